"""The course folder as the Documents view sees it: what is indexed, and adding files to it safely."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from index.config import SUPPORTED_SUFFIXES

DEFAULT_DOCS = Path(os.environ.get("COURSE_DOCS", "course"))
MAX_UPLOAD_MB = 20
UPLOAD_FOLDER = "subidos"
"""Uploads land in <docs>/subidos/, apart from the files the teacher maintains."""


class UploadError(ValueError):
    """A file the course folder will not take; the message says why, in Spanish."""


@dataclass
class IndexSummary:
    files: list[tuple[str, int]]
    """(source, chunks) per indexed file."""
    skipped: list[tuple[str, str]]
    """(source, reason) per file the indexer could not read."""
    built_at: str
    embedder: str
    docs_dir: str

    @property
    def chunks(self) -> int:
        return sum(n for _, n in self.files)


def summarize_index(manifest: dict) -> IndexSummary:
    files = sorted((src, int(e.get("n_chunks", 0))) for src, e in manifest.get("files", {}).items())
    skipped = [(s.get("source", "?"), s.get("reason", "")) for s in manifest.get("skipped", [])]
    return IndexSummary(files, skipped, manifest.get("built_at", ""),
                        manifest.get("embedder", {}).get("name", ""), manifest.get("docs_dir", ""))


def safe_filename(name: str) -> str:
    """A plain file name: no folders, no hidden files, accents folded, only [A-Za-z0-9._-]."""
    base = Path(name.replace("\\", "/")).name
    base = "".join(c for c in unicodedata.normalize("NFKD", base) if not unicodedata.combining(c))
    stem, suffix = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:100]
    suffix = suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(f"«{name}»: tipo no admitido; se aceptan {', '.join(SUPPORTED_SUFFIXES)}")
    if not stem:
        raise UploadError(f"«{name}»: el nombre no tiene caracteres utilizables")
    return stem + suffix


def save_upload(docs_dir: Path, name: str, data: bytes, max_mb: float = MAX_UPLOAD_MB) -> Path:
    """Write an uploaded file under <docs>/subidos/ (never outside it, never over another file)."""
    if len(data) > max_mb * 1e6:
        raise UploadError(f"«{name}»: ocupa {len(data) / 1e6:.1f} MB; el límite es {max_mb:g} MB")
    if not data:
        raise UploadError(f"«{name}»: el archivo está vacío")
    folder = docs_dir / UPLOAD_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_filename(name)
    stem, n = target.stem, 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{target.suffix}"
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target
