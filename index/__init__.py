"""Indexer: course documents -> chunks -> FAISS + BM25 hybrid store. CLI: `python -m index`."""

from .build import BuildReport, build_index
from .config import ChunkerConfig, ConfigError, IndexConfig
from .document import Chunk, Document
from .loaders import LoadError, load_document
from .store import HybridIndex, IndexNotFoundError, SearchResult

__all__ = [
    "BuildReport", "Chunk", "ChunkerConfig", "ConfigError", "Document", "HybridIndex", "IndexConfig",
    "IndexNotFoundError", "LoadError", "SearchResult", "build_index", "load_document",
]
