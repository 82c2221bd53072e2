"""The hybrid store on disk and in memory: chunks + FAISS vectors + BM25, searched together.

On disk (`out/` is what `--out`/`--index` name):

    out/CURRENT              name of the live version directory (replaced atomically)
    out/<version>/manifest.json   format, embedder + dimension, chunker settings, per-file hashes
    out/<version>/config.json     the resolved IndexConfig
    out/<version>/chunks.jsonl    one Chunk per line, in vector order
    out/<version>/embeddings.npy  (n_chunks, dim) float32, unit rows: reused by incremental builds
    out/<version>/dense.faiss     FAISS index over the same rows
    out/<version>/lexical/        bm25s index over the same rows

A reader only ever follows CURRENT, so a build that dies half-way is invisible to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dense as dense_mod
from .config import IndexConfig
from .document import Chunk
from .fusion import Ranking, fuse, top_k
from .lexical import LexicalIndex

FORMAT_VERSION = 1
CURRENT = "CURRENT"


class IndexNotFoundError(FileNotFoundError):
    """No usable index at a path; the message says which command creates one."""


@dataclass
class SearchResult:
    chunk: Chunk
    score: float
    """The fused score: comparable within one query's results only (min-max or RRF)."""
    rank: int
    relevance: float | None = None
    """Cosine between the question's and the chunk's embeddings: comparable across queries, which is
    what `HybridIndex.covers` thresholds (None in lexical mode, where no query is embedded)."""

    def to_dict(self) -> dict:
        c = self.chunk
        out = {"rank": self.rank, "score": round(self.score, 6), "text": c.text, "source": c.source,
               "title": c.title, "heading_path": c.heading_path, "start": c.start, "end": c.end}
        if c.page is not None:
            out["page"] = c.page
        if c.slide is not None:
            out["slide"] = c.slide
        return out


def current_version(out_dir: Path) -> Path | None:
    pointer = out_dir / CURRENT
    if not pointer.is_file():
        return None
    version = out_dir / pointer.read_text(encoding="utf-8").strip()
    return version if version.is_dir() else None


def read_manifest(version_dir: Path) -> dict:
    return json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))


def read_chunks(version_dir: Path) -> list[Chunk]:
    with open(version_dir / "chunks.jsonl", encoding="utf-8") as f:
        return [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]


class HybridIndex:
    def __init__(self, chunks: list[Chunk], vectors: np.ndarray, config: IndexConfig,
                 faiss_index=None, lexical: LexicalIndex | None = None, manifest: dict | None = None) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        self.chunks = chunks
        self.vectors = vectors
        self.config = config
        self.manifest = manifest or {}
        self.faiss = faiss_index if faiss_index is not None else dense_mod.build_faiss(
            vectors, config.index_type, config.hnsw_m, config.hnsw_ef_search)
        self.lexical = lexical if lexical is not None else LexicalIndex.build([c.search_text() for c in chunks])

    # ------------------------------------------------------------------ persistence

    def save(self, version_dir: Path) -> None:
        version_dir.mkdir(parents=True, exist_ok=False)
        with open(version_dir / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in self.chunks:
                f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        np.save(version_dir / "embeddings.npy", self.vectors)
        dense_mod.save_faiss(self.faiss, version_dir / "dense.faiss")
        self.lexical.save(version_dir / "lexical")
        (version_dir / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2), encoding="utf-8")
        # The manifest goes last: a version directory without one is incomplete by definition.
        (version_dir / "manifest.json").write_text(
            json.dumps(self.manifest, indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, out_dir: str | Path) -> HybridIndex:
        out_dir = Path(out_dir)
        version = current_version(out_dir)
        fix = f"build it with: python -m index build --docs DOCS_DIR --out {out_dir}"
        if version is None:
            raise IndexNotFoundError(f"no index at {out_dir}: {fix}")
        try:
            manifest = read_manifest(version)
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexNotFoundError(f"index at {out_dir} is damaged ({exc}): {fix}") from exc
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexNotFoundError(
                f"index at {out_dir} has format {manifest.get('format_version')}, this version reads "
                f"{FORMAT_VERSION}: rebuild it with: python -m index build --docs DOCS_DIR --out {out_dir}")
        config = IndexConfig.from_dict(json.loads((version / "config.json").read_text(encoding="utf-8")))
        return cls(
            read_chunks(version),
            np.load(version / "embeddings.npy"),
            config,
            faiss_index=dense_mod.load_faiss(version / "dense.faiss", config.hnsw_ef_search),
            lexical=LexicalIndex.load(version / "lexical"),
            manifest=manifest,
        )

    # ------------------------------------------------------------------ search

    def embed_query(self, query: str) -> np.ndarray:
        return dense_mod.embed_query(self.config.embedder, query)

    def rankings(self, query: str, depth: int | None = None,
                 query_vector: np.ndarray | None = None) -> dict[str, Ranking]:
        """{'stems', 'chars', 'dense'}: (ids, scores) best first, `depth` deep each."""
        depth = depth or self.config.candidates
        out = {name: top_k(scores, depth) for name, scores in self.lexical.scores(query).items()}
        if query_vector is None:
            query_vector = self.embed_query(query)
        scores, ids = dense_mod.search_faiss(self.faiss, query_vector, depth)
        out["dense"] = (ids.astype(np.int64), scores)
        return out

    def fuse(self, rankings: dict[str, Ranking], weights: dict[str, float] | None = None,
             fusion: str | None = None, rrf_k: int | None = None) -> list[tuple[int, float]]:
        c = self.config
        return fuse(rankings, weights or c.weights(), fusion or c.fusion, rrf_k or c.rrf_k)

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[SearchResult]:
        """Top-k chunks for a question. mode: hybrid (all rankings fused) | lexical (BM25 only) | dense."""
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: choose one of {', '.join(MODES)}")
        if not query.strip() or not self.chunks:
            return []
        depth = max(k, self.config.candidates)
        vector = None
        if mode == "lexical":  # no query embedding needed
            rankings = {name: top_k(s, depth) for name, s in self.lexical.scores(query).items()}
        else:
            vector = self.embed_query(query)
            rankings = self.rankings(query, depth, query_vector=vector)
        ranked = self.fuse(rankings, self.mode_weights(mode))
        return [SearchResult(self.chunks[i], float(s), r,
                             None if vector is None else float(self.vectors[i] @ vector))
                for r, (i, s) in enumerate(ranked[:k], start=1)]

    def covers(self, results: list[SearchResult]) -> bool:
        """Whether the corpus has anything on the question: some result at least `min_relevance` close.
        True when it cannot tell (lexical mode, no threshold for this embedder)."""
        threshold = self.config.relevance_threshold()
        scored = [r.relevance for r in results if r.relevance is not None]
        return not threshold or not scored or max(scored) >= threshold

    def mode_weights(self, mode: str) -> dict[str, float]:
        w = self.config.weights()
        if mode == "lexical":
            return {**w, "dense": 0.0}
        if mode == "dense":
            return {"dense": 1.0}
        return w


MODES = ("hybrid", "lexical", "dense")
