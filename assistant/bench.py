"""`python -m assistant bench`: the app's performance targets, measured side by side in one process.

- app ready: load the index, warm its embedder, load every variant (what the first page view waits for)
- time to first token of tuned and distilled (median over the questions)
- one Compare round: the same question through every variant
- distilled vs tuned decoding speed, alternating the two on the same prompts so machine load hits both
- the decode-threads policy (`AppConfig.decode_threads`) against every core, alternated the same way
- the served app from a real browser (`app_bench`): idle CPU with a page open, and the Chat's tokens/s
  against the same answer generated here
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

from .config import AppConfig
from .engine import Engine
from .generation import ALL_THREADS
from .registry import Registry
from .settings import DecodingSettings

QUESTIONS = [
    "¿Qué es teacher forcing?",
    "¿Qué diferencia hay entre la búsqueda voraz y la búsqueda en haz?",
    "¿Para qué sirve LoRA?",
]
TARGETS = {"app_ready_s": ("<=", 20.0), "ttft_tuned_s": ("<=", 1.0), "ttft_distilled_s": ("<=", 1.0),
           "compare_round_s": ("<=", 15.0), "distilled_vs_tuned_speed": (">=", 2.0),
           "app_idle_cpu_core_share": ("<=", 0.05), "app_vs_cli_tokens_per_s": (">=", 0.9)}


@dataclass
class BenchRow:
    name: str
    value: float | None
    note: str = ""

    def verdict(self) -> str:
        if self.value is None or self.name not in TARGETS:
            return ""
        op, limit = TARGETS[self.name]
        ok = self.value <= limit if op == "<=" else self.value >= limit
        return f"{'ok' if ok else 'NO'} ({op} {limit:g})"


def run_bench(config: AppConfig, rounds: int = 3, max_new_tokens: int = 64,
              served: bool = True) -> list[BenchRow]:
    settings = DecodingSettings(max_new_tokens=max_new_tokens)
    t0 = time.perf_counter()
    registry = Registry(config.models_dir, config.include_reference)
    engine = Engine(config, registry=registry)
    if engine.index is not None:
        engine.index.embed_query("calentamiento")  # loads the sentence-transformers model
    loaded = registry.load_all()
    rows = [BenchRow("app_ready_s", time.perf_counter() - t0,
                     f"índice + {len(loaded)} modelo(s): {', '.join(loaded) or 'ninguno'}")]
    rows += [BenchRow(f"load_{name}_s", m.load_seconds) for name, m in loaded.items() if hasattr(m, "load_seconds")]
    rows += _speed_rows(engine, settings, rounds)
    rows += _thread_rows(engine, settings, rounds)
    if engine.variants:
        t = time.perf_counter()
        answers = engine.compare(QUESTIONS[0], settings)
        errors = [a.error for a in answers.values() if a.error]
        rows.append(BenchRow("compare_round_s", time.perf_counter() - t,
                             f"{len(answers)} variantes" + (f", errores: {errors}" if errors else "")))
    if served:
        rows += _served_rows(engine, config)
    return rows


def _served_rows(engine: Engine, config: AppConfig) -> list[BenchRow]:
    from . import app_bench

    question = QUESTIONS[0]
    model = engine.default_model()
    cli = (lambda: app_bench.cli_tokens_per_s(engine, question, model)) if model else None
    app = app_bench.measure(config, question, cli=cli, variant_label=engine.label(model) if model else None)
    rows = [BenchRow("app_idle_cpu_core_share", app.get("idle_cpu_share"),
                     "servidor streamlit con una página de Chromium abierta, 30 s sin preguntas"
                     if "idle_cpu_share" in app else app.get("note", ""))]
    if engine.variants:
        in_app, here = app.get("app_tokens_per_s") or [], app.get("cli_tokens_per_s") or []
        variant = engine.default_model()
        a = statistics.median(in_app) if in_app else None
        c = statistics.median(here) if here else None
        rows.append(BenchRow(f"app_tokens_per_s_{variant}", a, f"Chat en el navegador, ajustes por defecto, mediana "
                             f"de {len(in_app)} ({', '.join(f'{x:.1f}' for x in in_app)}); " + app.get("note", "")))
        rows.append(BenchRow(f"cli_tokens_per_s_{variant}", c, "la misma pregunta en este proceso, intercalada con "
                             f"las de la app ({', '.join(f'{x:.1f}' for x in here)})"))
        rows.append(BenchRow("app_vs_cli_tokens_per_s", a / c if a and c else None,
                             "tokens/s en la app ÷ tokens/s en la línea de órdenes (medianas)"))
    return rows


def _speed_rows(engine: Engine, settings: DecodingSettings, rounds: int) -> list[BenchRow]:
    names = [n for n in ("tuned", "distilled") if n in engine.variants]
    ttft: dict[str, list[float]] = {n: [] for n in names}
    speed: dict[str, list[float]] = {n: [] for n in names}
    for name in names:  # warm-up: the first generate() of a model pays one-off costs
        engine.ask(QUESTIONS[0], name, DecodingSettings(max_new_tokens=2))
    for i in range(rounds):
        prepared = engine.prepare(QUESTIONS[i % len(QUESTIONS)])
        for name in names:
            answer = engine.answer(prepared, name, settings)
            if answer.stats is not None:
                ttft[name].append(answer.stats.ttft_s or 0.0)
                speed[name].append(answer.stats.tokens_per_s)
    rows = []
    for name in names:
        rows.append(BenchRow(f"ttft_{name}_s", statistics.median(ttft[name]) if ttft[name] else None))
        rows.append(BenchRow(f"tokens_per_s_{name}", statistics.median(speed[name]) if speed[name] else None))
    if all(speed.get(n) for n in ("tuned", "distilled")):
        ratio = statistics.median(speed["distilled"]) / max(statistics.median(speed["tuned"]), 1e-9)
        rows.append(BenchRow("distilled_vs_tuned_speed", ratio, "tokens/s distilled ÷ tokens/s tuned"))
    return rows


def _thread_rows(engine: Engine, settings: DecodingSettings, rounds: int) -> list[BenchRow]:
    """The decode-threads policy against every core for the whole answer, alternating the two on the same
    questions so machine load hits both."""
    policy = engine.config.decode_threads
    if not policy or policy >= ALL_THREADS or "tuned" not in engine.variants:
        return []
    every = Engine(replace(engine.config, decode_threads=0), registry=engine.registry, index=engine.index,
                   index_error=engine.index_error)
    runs: dict[str, list] = {"policy": [], "all": []}
    for i in range(rounds):
        prepared = engine.prepare(QUESTIONS[i % len(QUESTIONS)])
        for key, eng in (("policy", engine), ("all", every)):
            if (stats := eng.answer(prepared, "tuned", settings).stats) is not None:
                runs[key].append(stats)
    if not runs["policy"] or not runs["all"]:
        return []
    speed = {k: statistics.median(s.tokens_per_s for s in v) for k, v in runs.items()}
    first = {k: statistics.median(s.ttft_s or 0.0 for s in v) for k, v in runs.items()}
    label = f"{policy} hilo(s) al decodificar"
    return [BenchRow("tokens_per_s_tuned_all_threads", speed["all"], f"{ALL_THREADS} hilos todo el tiempo"),
            BenchRow("ttft_tuned_s_all_threads", first["all"], "(el prompt usa siempre todos los hilos)"),
            BenchRow("decode_threads_speedup", speed["policy"] / max(speed["all"], 1e-9),
                     f"tokens/s tuned con {label} ÷ con {ALL_THREADS} hilos, intercalados")]


def format_bench(rows: list[BenchRow]) -> str:
    head = f"{'medida':<28} {'valor':>10}  {'objetivo':<14} nota"
    lines = [head, "-" * len(head)]
    for r in rows:
        value = "—" if r.value is None else f"{r.value:.2f}"
        lines.append(f"{r.name:<28} {value:>10}  {r.verdict():<14} {r.note}")
    return "\n".join(lines)
