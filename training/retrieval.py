"""The course index as training and evaluation see it: the same hybrid search the app runs.

Instruction examples are built from what the retriever returns for each training question (hard
distractors, and the answering passage usually first), and the evaluation retrieves the passages of
each held-out question the same way, so the model is tuned on the contexts it will be scored on.
"""

from __future__ import annotations

import logging
from pathlib import Path

from index.document import Chunk

from .prompts import PromptPassage, location, passage_label

log = logging.getLogger(__name__)


def open_index(path: Path, docs: str):
    """The index at `path`, built from `docs` first when there is none."""
    from index import HybridIndex, IndexNotFoundError, build_index

    try:
        return HybridIndex.load(path)
    except IndexNotFoundError:
        log.info("no index in %s; building it from %s", path, docs)
        build_index(Path(docs), path, progress=False)
        return HybridIndex.load(path)


def index_fingerprint(path: Path) -> str | None:
    """What an index holds, as one hash (its files' contents, embedder, chunker and search settings):
    the instruction data depend on it, so a tuned model records the fingerprint it was built with."""
    import hashlib
    import json

    from index.store import current_version, read_manifest

    version = current_version(Path(path))
    if version is None:
        return None
    m = read_manifest(version)
    identity = {"files": {s: e.get("sha256") for s, e in m.get("files", {}).items()},
                "embedder": m.get("embedder"), "content_key": m.get("content_key"), "search": m.get("search")}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def retrieve_chunks(index, question: str, k: int) -> list[Chunk]:
    return [r.chunk for r in index.search(question, k=k)]


def retrieve_passages(index, question: str, k: int) -> list[PromptPassage]:
    out = []
    for r in index.search(question, k=k):
        c = r.chunk
        out.append(PromptPassage(r.rank, c.text, passage_label(c.source, c.heading_path, location(c.page, c.slide))))
    return out
