"""What the training scripts left beside each checkpoint: metrics, model card, evaluation report."""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: Path) -> list[dict]:
    """JSON lines; unreadable lines are skipped (a run killed mid-write leaves half a line)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def curves(rows: list[dict], keys: tuple[str, ...]) -> dict[str, list[tuple[float, float]]]:
    """{key: [(step, value), ...]} for the keys present in the rows."""
    out: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(rows):
        step = row.get("step", i)
        for k in keys:
            if isinstance(row.get(k), int | float):
                out.setdefault(k, []).append((step, float(row[k])))
    return out


def read_report(models_dir: Path) -> dict:
    path = models_dir / "report.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def read_card(model_dir: Path) -> str:
    path = model_dir / "README.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def describe_margin(margin: dict) -> str:
    """A tuned-vs-base F1 margin of the report (`bars.tuned_vs_base_unseen_f1`, or `bars.tuned_vs_base_f1` in
    reports without dev questions) as one sentence for students."""
    low, high = margin["ci"]
    verdict = ("el intervalo queda por encima de cero: la mejora no se explica por las preguntas elegidas."
               if low > 0 else "el intervalo incluye el cero o queda por debajo: con estas preguntas, la "
               "diferencia puede ser ruido.")
    return (f"**tuned − base**: F1 {margin['mean']:+.3f} (IC {margin.get('confidence', 0.95):.0%}: "
            f"[{low:+.3f}, {high:+.3f}], {margin['n']} preguntas, bootstrap pareado); {verdict}")
