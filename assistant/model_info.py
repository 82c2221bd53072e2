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
        report = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}
    return report if isinstance(report, dict) else {}


def read_card(model_dir: Path) -> str:
    path = model_dir / "README.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


ANSWER_COLUMNS = {"correct": "correctas", "key_share": "claves presentes", "token_f1": "F1", "rouge_l": "ROUGE-L",
                  "words": "palabras", "tokens_per_s": "tokens/s", "ttft_s": "primer token (s)", "n": "preguntas"}
TRAINING_COLUMNS = {"perplexity": "perplejidad", "copy_accuracy": "copia", "parameters": "parámetros",
                    "size_mb": "MB"}


def answer_rows(report: dict) -> dict[str, dict]:
    """Per variant, the pooled answer figures of the report with Spanish column names, training figures
    beside them; baselines and variants without answers keep only what they have."""
    pooled = report.get("answers_pooled", {}).get("variants", {})
    training = report.get("variants", {})
    rows = {}
    for name in [*pooled, *(n for n in training if n not in pooled)]:
        row = {label: pooled.get(name, {}).get(k) for k, label in ANSWER_COLUMNS.items()}
        row |= {label: training.get(name, {}).get(k) for k, label in TRAINING_COLUMNS.items()}
        rows[name] = {k: v for k, v in row.items() if v is not None}
    return rows


def describe_margin(margin: dict, what: str = "respuestas correctas") -> str:
    """A tuned-vs-base margin of the report (`answer_bars["correct: tuned - base"]`) as one sentence."""
    low, high = margin["ci"]
    verdict = ("el intervalo queda por encima de cero: la mejora no se explica por las preguntas elegidas."
               if low > 0 else "el intervalo incluye el cero o queda por debajo: con estas preguntas, la "
               "diferencia puede ser ruido.")
    return (f"**tuned − base**, {what}: {margin['mean']:+.1%} (IC {margin.get('confidence', 0.95):.0%}: "
            f"[{low:+.1%}, {high:+.1%}], {margin['n']} preguntas, bootstrap pareado); {verdict}")
