"""`build_index`: a folder of course documents -> a new index version, incrementally and atomically.

- Unchanged files (same content hash, same embedder and chunker settings) reuse their chunks and
  vectors from the live version: a no-change re-index loads no model and writes nothing.
- A changed file is re-chunked and re-embedded; a deleted file simply is not carried over.
- A different embedder or chunker setting re-embeds everything, and says so.
- Each newly embedded file is also written as a shard under `out/.partial/`, so a build killed
  half-way resumes from where it stopped instead of re-embedding everything.
- The new version is written to a temporary directory and published by replacing `CURRENT`
  (os.replace is atomic), so a crash or Ctrl-C leaves the previous index in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import dense
from .chunking import chunk_document
from .config import IndexConfig
from .document import Chunk
from .loaders import SUPPORTED_SUFFIXES, LoadError, load_document
from .store import CURRENT, FORMAT_VERSION, HybridIndex, current_version, read_chunks, read_manifest

log = logging.getLogger("index")
PARTIAL = ".partial"


@dataclass
class BuildReport:
    out_dir: Path
    files: int = 0
    chunks: int = 0
    embedded_files: int = 0
    reused_files: int = 0
    resumed_files: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    up_to_date: bool = False
    full_rebuild_reason: str | None = None

    def summary(self) -> str:
        state = "up to date, nothing re-embedded" if self.up_to_date else (
            f"{self.embedded_files} embedded, {self.reused_files} reused, {self.resumed_files} resumed")
        lines = [f"{self.files} files -> {self.chunks} chunks ({state}) in {self.seconds:.2f} s -> {self.out_dir}"]
        if self.full_rebuild_reason:
            lines.append(f"full rebuild: {self.full_rebuild_reason}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines += [f"  - {src}: {reason}" for src, reason in self.skipped]
        if self.ignored:
            kinds = ", ".join(f"{k or '(no extension)'} x{n}" for k, n in sorted(self.ignored.items()))
            lines.append(f"ignored unsupported file types: {kinds}")
        return "\n".join(lines)


def scan(docs_dir: Path) -> tuple[list[Path], Counter]:
    """Supported files under docs_dir (hidden files and folders such as .obsidian skipped)."""
    files, ignored = [], Counter()
    for path in sorted(docs_dir.rglob("*")):
        rel = path.relative_to(docs_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
        else:
            ignored[path.suffix.lower()] += 1
    return files, ignored


UPLOADS_PREFIX = "subidos"
"""How the files of the uploads folder are named in the index: `subidos/<file>`."""


def sources(docs_dir: Path, uploads_dir: Path | None = None) -> tuple[dict[str, Path], Counter]:
    """{source name: path} for the course folder and, when given and present, the uploads folder."""
    files, ignored = scan(docs_dir)
    named = {p.relative_to(docs_dir).as_posix(): p for p in files}
    if uploads_dir is not None and uploads_dir.is_dir():
        extra, more_ignored = scan(uploads_dir)
        ignored += more_ignored
        for path in extra:
            source = f"{UPLOADS_PREFIX}/{path.relative_to(uploads_dir).as_posix()}"
            if source in named:
                raise ValueError(f"{named[source]} and {path} would both be indexed as {source}: "
                                 f"rename one (the course folder should not have a {UPLOADS_PREFIX}/ folder "
                                 "when uploads are kept apart)")
            named[source] = path
    return named, ignored


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _build_lock(out_dir: Path):
    """One builder per index directory at a time."""
    with open(out_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RuntimeError(f"another build is writing {out_dir}; wait for it to finish") from exc
        yield


def _previous_state(out_dir: Path, config: IndexConfig) -> tuple[dict, Path | None, str | None]:
    """(previous manifest, its version dir if reusable, why a full rebuild is needed)."""
    version = current_version(out_dir)
    if version is None:
        return {}, None, None
    try:
        manifest = read_manifest(version)
    except (OSError, json.JSONDecodeError):
        return {}, None, "previous index is damaged"
    if manifest.get("format_version") != FORMAT_VERSION:
        return manifest, None, f"index format changed ({manifest.get('format_version')} -> {FORMAT_VERSION})"
    before = {k: v for k, v in manifest.get("embedder", {}).items() if k != "dim"}
    now = dense.embedder_identity(config.embedder)
    if before != now:
        return manifest, None, f"embedder changed ({_describe(before)} -> {_describe(now)})"
    if manifest.get("content_key") != config.content_key():
        return manifest, None, "chunker settings or rules changed"
    return manifest, version, None


def _describe(identity: dict) -> str:
    name = identity.get("name") or "unknown"
    return f"{name} ({identity['weights']})" if identity.get("weights") else name


def _search_settings(config: IndexConfig) -> dict:
    d = config.to_dict()
    d.pop("chunker")
    return d


def build_index(docs_dir: str | Path, out_dir: str | Path, config: IndexConfig | None = None,
                progress: bool = True, on_file: Callable[[int, int, str], None] | None = None,
                uploads_dir: str | Path | None = None) -> BuildReport:
    """Build or update the index of `docs_dir` (and of `uploads_dir`, as `subidos/...`, when it exists)
    in `out_dir`. `on_file(done, total, source)` is called before each file is read (a UI's progress
    bar); `progress` draws a terminal bar."""
    config = config or IndexConfig()
    config.validate()  # a config built in code is checked here, as build_config checks one read from YAML
    config.chunker.validate("chunker.")
    docs_dir, out_dir = Path(docs_dir), Path(out_dir)
    uploads_dir = Path(uploads_dir) if uploads_dir is not None else None
    if not docs_dir.is_dir():
        raise FileNotFoundError(f"documents folder not found: {docs_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(out_dir):
        return _build(docs_dir, out_dir, config, progress, on_file, uploads_dir)


def _build(docs_dir: Path, out_dir: Path, config: IndexConfig, progress: bool,
           on_file: Callable[[int, int, str], None] | None = None, uploads_dir: Path | None = None) -> BuildReport:
    t0 = time.perf_counter()
    report = BuildReport(out_dir=out_dir)
    for stale in out_dir.glob(".tmp-*"):  # left by a build that was killed
        shutil.rmtree(stale, ignore_errors=True)
    named, report.ignored = sources(docs_dir, uploads_dir)
    prev, prev_version, rebuild_reason = _previous_state(out_dir, config)
    report.full_rebuild_reason = rebuild_reason
    if rebuild_reason:
        log.warning("%s: re-embedding every file", rebuild_reason)
    prev_files = prev.get("files", {}) if prev_version else {}
    prev_skipped = {s["source"]: s for s in prev.get("skipped", [])} if prev_version else {}

    max_bytes = int(config.max_file_mb * 1e6)
    hashes: dict[str, str] = {}
    for source, path in named.items():
        try:
            size = path.stat().st_size
            # too big to hash cheaply: its size stands in for the hash, and the loader skips it
            hashes[source] = f"size:{size}" if size > max_bytes else file_hash(path)
        except OSError as exc:
            report.skipped.append((source, f"cannot read: {exc}"))

    # Fast path: same files, same hashes, same settings -> nothing to do.
    same_files = {s: e["sha256"] for s, e in prev_files.items()} | {s: e["sha256"] for s, e in prev_skipped.items()}
    if prev_version and not report.skipped and same_files == hashes and prev.get("search") == _search_settings(config):
        report.up_to_date = True
        report.files = len(prev_files)
        report.chunks = sum(e["n_chunks"] for e in prev_files.values())
        report.skipped = [(s, e["reason"]) for s, e in sorted(prev_skipped.items())]
        report.seconds = time.perf_counter() - t0
        return report

    prev_chunks = read_chunks(prev_version) if prev_version else []
    prev_vectors = np.load(prev_version / "embeddings.npy", mmap_mode="r") if prev_version else None
    partial_dir = out_dir / PARTIAL
    partial_dir.mkdir(exist_ok=True)
    key = config.content_key()

    per_file: dict[str, tuple[list[Chunk], np.ndarray]] = {}
    pending: list[tuple[str, list[Chunk]]] = []
    skipped_entries = []
    todo = [(source, path) for source, path in named.items() if source in hashes]
    bar = _progress(todo, progress)
    for done, (source, path) in enumerate(bar):
        if on_file:
            on_file(done, len(todo), source)
        sha = hashes[source]
        if source in prev_files and prev_files[source]["sha256"] == sha:
            e = prev_files[source]
            lo, hi = e["first_chunk"], e["first_chunk"] + e["n_chunks"]
            per_file[source] = (prev_chunks[lo:hi], np.asarray(prev_vectors[lo:hi]))
            report.reused_files += 1
            continue
        if source in prev_skipped and prev_skipped[source]["sha256"] == sha:
            reason = prev_skipped[source]["reason"]
        else:
            shard = partial_dir / f"{sha[:32]}-{key}.npz"
            if shard.exists():
                per_file[source] = _read_shard(shard, source)
                report.resumed_files += 1
                continue
            try:
                doc = load_document(path, source, max_bytes=max_bytes)
                chunks = chunk_document(doc, config.chunker)
                if not chunks:
                    raise LoadError("no text to index after cleaning")
                pending.append((source, chunks))
                if sum(len(c) for _, c in pending) >= config.embed_batch_size:
                    _embed_pending(pending, per_file, partial_dir, hashes, key, config)
                continue
            except LoadError as exc:
                reason = str(exc)
        log.warning("skipping %s: %s", source, reason)
        report.skipped.append((source, reason))
        skipped_entries.append({"source": source, "sha256": sha, "reason": reason})
    _embed_pending(pending, per_file, partial_dir, hashes, key, config)
    report.embedded_files = len(per_file) - report.reused_files - report.resumed_files

    chunks: list[Chunk] = []
    vectors: list[np.ndarray] = []
    files_manifest = {}
    for source in sorted(per_file):
        file_chunks, file_vectors = per_file[source]
        files_manifest[source] = {"sha256": hashes[source], "n_chunks": len(file_chunks), "first_chunk": len(chunks)}
        chunks.extend(file_chunks)
        vectors.append(file_vectors)
    dim = vectors[0].shape[1] if vectors else (prev.get("embedder", {}).get("dim") or 0)
    matrix = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    manifest = {
        "format_version": FORMAT_VERSION,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "docs_dir": str(docs_dir),
        "uploads_dir": str(uploads_dir) if uploads_dir is not None and uploads_dir.is_dir() else None,
        "embedder": {**dense.embedder_identity(config.embedder), "dim": int(dim)},
        "chunker": config.to_dict()["chunker"],
        "content_key": key,
        "search": _search_settings(config),
        "files": files_manifest,
        "skipped": skipped_entries,
    }
    _publish(HybridIndex(chunks, matrix, config, manifest=manifest), out_dir)
    shutil.rmtree(partial_dir, ignore_errors=True)
    report.files, report.chunks = len(files_manifest), len(chunks)
    report.seconds = time.perf_counter() - t0
    return report


def _embed_pending(pending, per_file, partial_dir: Path, hashes, key: str, config: IndexConfig) -> None:
    """Embed the queued files in one batch, then checkpoint each as a shard for resumption."""
    if not pending:
        return
    texts = [c.search_text() for _, chunks in pending for c in chunks]
    vectors = dense.embed(config.embedder, texts, config.embed_batch_size)
    offset = 0
    for source, chunks in pending:
        file_vectors = vectors[offset : offset + len(chunks)]
        offset += len(chunks)
        per_file[source] = (chunks, file_vectors)
        shard = partial_dir / f"{hashes[source][:32]}-{key}.npz"
        tmp = shard.with_suffix(".tmp.npz")
        payload = json.dumps([c.to_dict() for c in chunks], ensure_ascii=False)
        np.savez(tmp, vectors=file_vectors, chunks=np.array(payload))
        os.replace(tmp, shard)
    pending.clear()


def _read_shard(shard: Path, source: str) -> tuple[list[Chunk], np.ndarray]:
    with np.load(shard) as data:
        chunks = [Chunk.from_dict(d) for d in json.loads(str(data["chunks"]))]
        for c in chunks:
            c.source = source  # the same content may have been moved or renamed
        return chunks, data["vectors"].astype(np.float32)


def _publish(index: HybridIndex, out_dir: Path) -> None:
    """Write the new version beside the old one, then switch CURRENT in one atomic rename."""
    tmp = out_dir / f".tmp-{uuid.uuid4().hex[:8]}"
    try:
        index.save(tmp)
        version = out_dir / f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        os.replace(tmp, version)
        pointer_tmp = out_dir / f"{CURRENT}.tmp"
        pointer_tmp.write_text(version.name, encoding="utf-8")
        with open(pointer_tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(pointer_tmp, out_dir / CURRENT)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in out_dir.glob("v-*"):
        if old.name != version.name:
            shutil.rmtree(old, ignore_errors=True)


def _progress(items: list, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="indexing", unit="file", leave=False)
