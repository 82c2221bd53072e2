"""The course material as the Documents view sees it: what is indexed, and uploading files safely.

Uploads go into their own folder (`AppConfig.uploads_dir`, `artifacts/uploads` by default), never into
the course folder, which may be a git checkout; the indexer reads that folder beside the course's and
names its files `subidos/<file>`."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from index.loaders import SUPPORTED_SUFFIXES

from .config import AppConfig

__all__ = ["SUPPORTED_SUFFIXES", "MAX_UPLOAD_MB", "UploadError", "IndexSummary", "Saved", "save_upload", "uploads",
           "delete_upload", "reindex", "summarize_index", "spanish_reason"]

MAX_UPLOAD_MB = 20


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


_REASONS = [  # the indexer's (English) reasons, as a student reads them
    (r"^corrupt PDF: (.*)", r"PDF dañado (\1)"),
    (r"^password-protected PDF.*", "PDF protegido con contraseña: no se puede leer sin ella"),
    (r"^corrupt Word file: (.*)", r"archivo de Word dañado (\1)"),
    (r"^corrupt PowerPoint file: (.*)", r"archivo de PowerPoint dañado (\1)"),
    (r"^binary content.*", "contenido binario en un archivo de texto"),
    (r"^undecodable text.*", "texto con una codificación desconocida (no es UTF-8 ni Latin-1)"),
    (r"^empty file$", "archivo vacío"),
    (r"^file too large \((.*)\)$", r"archivo demasiado grande (\1)"),
    (r"^no text extracted.*", "no se extrajo texto (documento vacío, o un PDF escaneado sin capa de texto)"),
    (r"^no text to index after cleaning$", "no queda texto que indexar tras limpiarlo"),
    (r"^cannot read: (.*)", r"no se puede leer (\1)"),
    (r"^unsupported file type (.*)", r"tipo de archivo no admitido (\1)"),
]


def spanish_reason(reason: str) -> str:
    """Why the indexer skipped a file, in Spanish (unknown reasons pass through unchanged)."""
    for pattern, replacement in _REASONS:
        if re.match(pattern, reason):
            return re.sub(pattern, replacement, reason)
    return reason


def summarize_index(manifest: dict) -> IndexSummary:
    files = sorted((src, int(e.get("n_chunks", 0))) for src, e in manifest.get("files", {}).items())
    skipped = [(s.get("source", "?"), spanish_reason(s.get("reason", ""))) for s in manifest.get("skipped", [])]
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


@dataclass
class Saved:
    path: Path
    status: str
    """'nuevo', 'reemplazado' (same name, new content) or 'ya estaba' (the same bytes are already there)."""

    def message(self) -> str:
        if self.status == "ya estaba":
            return f"`{self.path.name}` ya estaba en la carpeta con el mismo contenido: no se guarda otra copia."
        verb = "Reemplazado" if self.status == "reemplazado" else "Guardado"
        return f"{verb} `{self.path}`. Re-indexa para poder preguntar sobre él."


def save_upload(folder: Path, name: str, data: bytes, max_mb: float = MAX_UPLOAD_MB) -> Saved:
    """Write an uploaded file into the uploads folder (never outside it). The same bytes already
    uploaded, under any name, are not stored twice; a new version under the same name replaces the old one."""
    if len(data) > max_mb * 1e6:
        raise UploadError(f"«{name}»: ocupa {len(data) / 1e6:.1f} MB; el límite es {max_mb:g} MB")
    if not data:
        raise UploadError(f"«{name}»: el archivo está vacío")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_filename(name)
    digest = hashlib.sha256(data).digest()
    for existing in uploads(folder):
        if existing.stat().st_size == len(data) and hashlib.sha256(existing.read_bytes()).digest() == digest:
            return Saved(existing, "ya estaba")
    status = "reemplazado" if target.exists() else "nuevo"
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return Saved(target, status)


def uploads(folder: Path) -> list[Path]:
    """The files uploaded through the app (the only ones it may delete)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []


def delete_upload(folder: Path, name: str) -> None:
    """Remove one uploaded file; anything outside the uploads folder is refused."""
    target = folder / Path(name).name
    if target not in uploads(folder):
        raise UploadError(f"«{name}» no es un archivo subido desde la app: no lo borro")
    target.unlink()


def reindex(config: AppConfig, on_file=None):
    """Update the index from the course folder and the uploads folder (only changed files are read).
    Returns the indexer's BuildReport; raises OSError/RuntimeError/ValueError with the reason."""
    from index import build_index

    return build_index(config.docs_dir, config.index_dir, progress=False, on_file=on_file,
                       uploads_dir=config.uploads_dir)
