"""`python -m index bench`: the indexer's speed, measured side by side in one run.

1. Build throughput on the course documents (cold: includes loading the embedder).
2. No-change re-index, in-process and as a whole `python -m index build` command.
3. Query latency (p50/p95 of `HybridIndex.search`, query embedding included) at 1k/10k/100k
   chunks, flat vs HNSW at the largest size.

For the sizes, synthetic chunks are made by recombining the real chunks' sentences (so term
statistics stay realistic) with vectors that are real chunk vectors plus noise, re-normalised:
embedding 100k texts on a 2-core CPU would take longer than the rest of the bench together and
measures the embedder, not the index.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .build import build_index
from .config import IndexConfig
from .dense import load_embedder
from .lexical import LexicalIndex, SpanishAnalyzer, _BM25Field
from .store import HybridIndex

_DEV_QUESTIONS = [
    "¿qué es teacher forcing?", "diferencia entre beam search y greedy", "para qué sirve la atención",
    "cómo funciona LoRA", "qué es la destilación de conocimiento", "por qué se desvanece el gradiente",
    "qué hace la temperatura al muestrear", "qué es RAG y para qué sirve", "embeddings posicionales",
    "BERT enmascara tokens", "top-p nucleus sampling", "qué es chain of thought",
]


def _default_docs() -> Path:
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "course-docs"
    return shared.resolve() if shared.is_dir() else Path(__file__).resolve().parents[1] / "course"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.array(samples) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def _synthetic_index(base: HybridIndex, n: int, index_type: str, seed: int = 0) -> HybridIndex:
    """n chunks recombined from the real ones (see module docstring)."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    chunks = base.chunks
    picks = [rng.randrange(len(chunks)) for _ in range(n)]
    vectors = base.vectors[picks] + nrng.normal(0, 0.05, (n, base.vectors.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Lexical side: analyse each real chunk once, then shuffle its terms with a neighbour's.
    fields = {}
    for kind in LexicalIndex.FIELDS:
        analyzer = SpanishAnalyzer(kind)
        analysed = [analyzer(c.search_text()) for c in chunks]
        docs = []
        for i in picks:
            j = rng.randrange(len(chunks))
            terms = analysed[i][: len(analysed[i]) // 2 + 1] + analysed[j][len(analysed[j]) // 2 :]
            docs.append(terms)
        fields[kind] = _BM25Field.from_tokens(docs, analyzer)
    config = base.config.with_overrides(index_type=index_type)
    return HybridIndex([chunks[i] for i in picks], vectors.astype(np.float32), config, lexical=LexicalIndex(fields))


def _time_queries(index: HybridIndex, n: int) -> tuple[float, float]:
    questions = [_DEV_QUESTIONS[i % len(_DEV_QUESTIONS)] + ("" if i < len(_DEV_QUESTIONS) else f" {i}")
                 for i in range(n)]
    index.search(questions[0], k=5)  # warm-up: first call pays for lazy imports and caches
    samples = []
    for q in questions:
        t0 = time.perf_counter()
        index.search(q, k=5)
        samples.append(time.perf_counter() - t0)
    return _percentiles(samples)


def run_bench(docs: str | None, sizes: list[int], n_queries: int) -> None:
    docs_dir = Path(docs) if docs else _default_docs()
    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads={torch.get_num_threads()}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "index"
        t0 = time.perf_counter()
        report = build_index(docs_dir, out, progress=False)
        cold = time.perf_counter() - t0
        print(f"\n[build] {docs_dir}: {report.files} files -> {report.chunks} chunks in {cold:.2f} s "
              f"= {report.chunks / cold:.1f} chunks/s (cold: embedder load included; "
              f"embedder {IndexConfig().embedder}); target for the course documents <= 60 s")
        t0 = time.perf_counter()
        build_index(docs_dir, Path(tmp) / "index2", progress=False)
        warm = time.perf_counter() - t0
        print(f"[build] same corpus, embedder already loaded: {warm:.2f} s = {report.chunks / warm:.1f} chunks/s")

        t0 = time.perf_counter()
        again = build_index(docs_dir, out, progress=False)
        no_change = time.perf_counter() - t0
        assert again.up_to_date, "a second build of an unchanged folder must be a no-op"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "index", "build", "--docs", str(docs_dir), "--out", str(out), "--quiet"],
                       check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
        cli = time.perf_counter() - t0
        print(f"[re-index] no change: {no_change * 1000:.1f} ms in-process, {cli:.2f} s as a CLI command "
              f"(Python start-up and imports included); target <= 2 s")
        base = HybridIndex.load(out)

    embedder = load_embedder(base.config.embedder)
    samples = []
    for q in _DEV_QUESTIONS * max(1, n_queries // len(_DEV_QUESTIONS)):
        t0 = time.perf_counter()
        embedder.query(q)
        samples.append(time.perf_counter() - t0)
    p50, p95 = _percentiles(samples)
    print(f"\n[query] embedding one question alone ({base.config.embedder}): p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    print(f"[query] hybrid search, k=5, query embedding included; {n_queries} queries per size")
    print(f"{'chunks':>8} {'index':>6} {'p50 ms':>8} {'p95 ms':>8}")
    flat_p50 = {}
    for n in sizes:
        for index_type in ("flat", "hnsw") if n == max(sizes) else ("flat",):
            index = _synthetic_index(base, n, index_type)
            p50, p95 = _time_queries(index, n_queries)
            flat_p50.setdefault(n, p50)
            print(f"{n:>8} {index_type:>6} {p50:>8.2f} {p95:>8.2f}", flush=True)
            if index_type == "hnsw":
                print(f"{'':>8} hnsw/flat p50 ratio at {n}: {p50 / flat_p50[n]:.2f}")
    print("targets (2-core CI machine): p50 <= 30 ms at 10k chunks")
