"""The training corpus: the course documents, read with the indexer's loaders.

Pretraining sees each document's plain text; the instruction builder sees its chunks (the same
structure-aware chunks the index serves, so the RAG examples look like what the app retrieves).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from index.build import scan
from index.chunking import chunk_document
from index.config import ChunkerConfig
from index.document import Chunk, Document
from index.loaders import LoadError, load_document

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """The corpus folder is missing or yields no text."""


def load_corpus(docs_dir: str | Path) -> list[Document]:
    docs_dir = Path(docs_dir)
    if not docs_dir.is_dir():
        raise CorpusError(f"corpus folder {docs_dir} does not exist")
    files, _ = scan(docs_dir)
    docs = []
    for path in files:
        source = path.relative_to(docs_dir).as_posix()
        try:
            docs.append(load_document(path, source))
        except LoadError as exc:
            log.warning("skipping %s: %s", source, exc)
    if not docs or not any(d.text.strip() for d in docs):
        raise CorpusError(f"corpus folder {docs_dir} has no readable text (supported: .md .txt .pdf .html .docx .pptx)")
    return docs


def corpus_chunks(docs: list[Document], cfg: ChunkerConfig | None = None) -> list[Chunk]:
    cfg = cfg or ChunkerConfig()
    return [c for d in docs for c in chunk_document(d, cfg)]


def split_documents(docs: list[Document], held_out: float, seed: int) -> tuple[list[str], list[str]]:
    """Train/held-out text for pretraining: the last `held_out` share of every document's paragraphs.

    Splitting inside each document (not whole documents) keeps every topic in training while still
    measuring perplexity on text the model never saw.
    """
    train, held = [], []
    rng = random.Random(seed)
    for d in docs:
        paras = [p for p in d.text.split("\n\n") if p.strip()]
        n_held = int(round(len(paras) * held_out))
        if n_held and len(paras) > 2:
            start = rng.randrange(0, len(paras) - n_held + 1)
            held.append("\n\n".join(paras[start:start + n_held]))
            paras = paras[:start] + paras[start + n_held:]
        train.append("\n\n".join(paras))
    return train, held
