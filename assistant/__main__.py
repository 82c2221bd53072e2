"""Command line for the same engine the app uses.

    python -m assistant ask [--variant V | --compare] [--cot] [decoding flags] "pregunta"
    python -m assistant evaluate --index DIR --models DIR --qa FILE [--answers FILE] [--report FILE] [--limit N]
    python -m assistant bench [--index DIR] [--models DIR]
    python -m assistant prepare [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .answer import Answer
from .config import AppConfig
from .settings import STRATEGIES, DecodingSettings, SettingsError


def main(argv: list[str] | None = None, own_process: bool = False) -> int:
    """`own_process`: main() owns the process (`python -m assistant`), so the commands that answer keep this
    thread off PyTorch's thread pools while a worker generates (`serial_torch`); `prepare` converts weights
    with every core."""
    args = parser().parse_args(argv)
    try:
        settings = decoding_settings(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if own_process and args.func is not cmd_prepare:
        from .generation import serial_torch

        serial_torch()
    return args.func(args, settings)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assistant", description="Asistente del curso de PLN.")
    sub = p.add_subparsers(required=True)

    ask = sub.add_parser("ask", help="responder una pregunta con una variante o con todas")
    ask.add_argument("question")
    who = ask.add_mutually_exclusive_group()
    who.add_argument("--variant", help="base | tuned | distilled | reference (por defecto: la mejor disponible)")
    who.add_argument("--compare", action="store_true", help="todas las variantes, mismos pasajes y ajustes")
    ask.add_argument("--cot", action="store_true", help="razonamiento paso a paso antes de la respuesta")
    ask.add_argument("--k", type=int, default=5, help="pasajes a recuperar")
    ask.set_defaults(func=cmd_ask)

    ev = sub.add_parser("evaluate", help="puntuar cada variante sobre preguntas con respuesta de referencia")
    ev.add_argument("--qa", type=Path, required=True, help='JSON lines {"question", "answer", "keys"}')
    ev.add_argument("--name", help="nombre del conjunto de preguntas en el informe (por defecto: el del archivo)")
    ev.add_argument("--answers", type=Path, help="escribir cada respuesta con sus puntuaciones (JSON lines)")
    ev.add_argument("--report", type=Path, help="añadir los resultados a este report.json (p. ej. "
                                                "artifacts/models/report.json; la app elige con él su variante)")
    ev.add_argument("--variants", help="variantes separadas por comas (por defecto: todas las disponibles)")
    ev.add_argument("--k", type=int, default=5, help="pasajes a recuperar")
    ev.add_argument("--json", action="store_true", help="resultado en JSON")
    ev.add_argument("--limit", type=int, help="solo las N primeras preguntas")
    ev.set_defaults(func=cmd_evaluate)

    bench = sub.add_parser("bench", help="tiempos de arranque, primer token, comparación y velocidad")
    bench.add_argument("--rounds", type=int, default=3)
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--no-served", action="store_true",
                       help="sin la medida de la app servida en Chromium (CPU en reposo, tokens/s en la app)")
    bench.set_defaults(func=cmd_bench)

    prep = sub.add_parser("prepare", help="cargar cada variante una vez (convierte y guarda el modelo de "
                                          "referencia GGUF) para que la app arranque rápido")
    prep.set_defaults(func=cmd_prepare)

    for s in (ask, ev, bench, prep):
        s.add_argument("--index", type=Path, help="índice (por defecto: $COURSE_INDEX o artifacts/index)")
        s.add_argument("--models", type=Path, help="modelos (por defecto: $COURSE_MODELS o artifacts/models)")
        add_decoding_flags(s)
    return p


def add_decoding_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decodificación")
    g.add_argument("--strategy", choices=STRATEGIES)
    g.add_argument("--num-beams", type=int)
    g.add_argument("--length-penalty", type=float)
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--repetition-penalty", type=float)
    g.add_argument("--stop-on-repeat", type=int, help="end the answer where it repeats this many of its own tokens (0: never)")
    g.add_argument("--min-sentences", type=int, help="hold the end back until the answer has this many sentences")
    g.add_argument("--max-new-tokens", type=int)
    g.add_argument("--seed", type=int)


def decoding_settings(args: argparse.Namespace) -> DecodingSettings:
    names = ("strategy", "num_beams", "length_penalty", "temperature", "top_k", "top_p",
             "repetition_penalty", "stop_on_repeat", "min_sentences", "max_new_tokens", "seed")
    overrides = {n: getattr(args, n) for n in names}
    if overrides["strategy"] is None and overrides["num_beams"] is not None:
        overrides["strategy"] = "beam"
    return DecodingSettings().with_overrides(**overrides)


def app_config(args) -> AppConfig:
    """The environment's configuration with this command's --index/--models on top."""
    return AppConfig.from_env(index_dir=args.index, models_dir=args.models)


def make_engine(args):
    from .engine import Engine
    from .registry import Registry

    config = app_config(args)
    return Engine(config, registry=Registry(config.models_dir, config.include_reference))


# ---------------------------------------------------------------------------- ask

def cmd_ask(args, settings: DecodingSettings) -> int:
    engine = make_engine(args)
    if notice := engine.models_notice():
        print(f"aviso: {notice}\n", file=sys.stderr)
    if args.variant and args.variant not in engine.choices:
        print(f"error: la variante {args.variant!r} no está disponible; hay: "
              f"{', '.join(engine.choices)}", file=sys.stderr)
        return 2
    prepared = engine.prepare(args.question, args.k)
    if prepared.question.problem:
        print(prepared.question.problem)
        return 1
    if args.compare:
        streams = engine.compare_streams(prepared, settings, args.cot)
    else:
        variant = args.variant or engine.default_variant()
        streams = {variant or "extractivo": engine.stream(variant, prepared, settings, args.cot)}
    failed = 0
    for name, stream in streams.items():
        print(f"=== {name} ===")
        for piece in stream:
            print(piece, end="", flush=True)
        print()
        print_answer(stream.answer, streamed=True)
        failed += stream.answer.error is not None
    return 1 if failed == len(streams) else 0


def print_answer(answer: Answer, streamed: bool = False) -> None:
    if answer.error:
        print(f"error: {answer.error}")
        return
    if not streamed:
        print(answer.text)
    if answer.reasoning:
        print(f"\n[razonamiento]\n{answer.reasoning}\n[respuesta final]\n{answer.text}")
    for note in answer.notices:
        print(f"aviso: {note}")
    if answer.stats:
        print(f"({answer.stats.line()})")
    if answer.passages:
        print("fuentes:")
        cited = {c.number for c in answer.citations if c.valid}
        for p in answer.passages:
            mark = "*" if p.number in cited else " "
            print(f" {mark}[{p.number}] {p.where}")
    if answer.invalid_citations:
        print(f"citas a pasajes que no se dieron: {answer.invalid_citations}")
    print()


# ---------------------------------------------------------------------------- evaluate / bench

def cmd_evaluate(args, settings: DecodingSettings) -> int:
    from training.evaluate import machine
    from training.metrics import read_qa

    from .evaluation import evaluate, format_scores, update_report, write_answers

    try:
        qa = read_qa(args.qa, args.limit)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(args)
    if engine.index is None:
        print(f"error: {engine.index_error}", file=sys.stderr)
        return 2
    variants = [v.strip() for v in args.variants.split(",")] if args.variants else None
    if missing := [v for v in variants or [] if v not in engine.variants]:
        print(f"error: variante(s) no disponible(s): {', '.join(missing)}; hay: "
              f"{', '.join(engine.variants) or 'ninguna'}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    scores = evaluate(engine, qa, settings, args.k, variants, progress=None if args.json else _progress)
    seconds = round(time.perf_counter() - t0, 1)
    name = args.name or args.qa.stem
    if args.answers:
        write_answers(args.answers, name, scores)
    meta = {"qa": str(args.qa), "index": str(engine.config.index_dir), "questions": len(qa), "k": args.k,
            "settings": settings.to_dict(), "machine": machine(), "seconds": seconds}
    if args.report:
        report = update_report(args.report, name, scores, meta)
        bars, best = report["answer_bars"], report["best_variant"]
    if args.json:
        print(json.dumps({**meta, "variants": {s.variant: s.to_dict() for s in scores}}, indent=2, ensure_ascii=False))
    else:
        print(format_scores(scores))
        if args.report:
            print(f"\n{args.report}: mejor variante {best}; barras (todas las preguntas del informe): "
                  + ", ".join(f"{k}={v['mean'] if isinstance(v, dict) else v}" for k, v in bars.items()))
    return 0


def _progress(i: int, n: int) -> None:
    print(f"\r{i}/{n} preguntas", end="\n" if i == n else "", file=sys.stderr, flush=True)


def cmd_prepare(args, settings: DecodingSettings) -> int:
    from .registry import Registry

    failed = 0
    config = app_config(args)
    for name, result in Registry(config.models_dir, config.include_reference).load_all().items():
        if isinstance(result, Exception):
            failed += 1
            print(f"{name}: {result}", file=sys.stderr)
        else:
            print(f"{name}: {result.parameters:,} parámetros, cargado en {result.load_seconds:.1f} s")
    return 1 if failed else 0


def cmd_bench(args, settings: DecodingSettings) -> int:
    from .bench import format_bench, run_bench

    rows = run_bench(app_config(args), args.rounds, settings.max_new_tokens
                     if args.max_new_tokens else 64, served=not args.no_served)
    if args.json:
        print(json.dumps({r.name: r.value for r in rows}, indent=2))
    else:
        print(format_bench(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(own_process=True))
