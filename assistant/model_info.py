"""What the training scripts left beside each checkpoint: metrics, model card, evaluation report."""

from __future__ import annotations

import json
from pathlib import Path

from index.jsonl import iter_jsonl


def read_metrics(path: Path) -> list[dict]:
    """A stage's metrics log; half-written lines (a run killed mid-write) are skipped."""
    return [row for _, row in iter_jsonl(path, skip_broken=True)] if path.is_file() else []


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


CARD_LABELS = {
    "heldout_ppl": "perplejidad en el texto del curso reservado",
    "heldout_answer_ppl": "perplejidad de las respuestas de validación",
    "steps": "pasos de entrenamiento",
    "train_blocks": "bloques de entrenamiento",
    "train_examples": "ejemplos de entrenamiento",
    "init_from": "parte de",
    "train_tokens_per_s": "velocidad de entrenamiento (tokens/s, mediana)",
    "mfu": "MFU (mediana)",
    "lora": "LoRA",
    "trainable_parameters": "parámetros entrenables",
    "teacher": "maestro",
    "student_layers": "capas del estudiante (capas del maestro que copian)",
    "kd_loss": "pérdida",
    "sequence_kd": "destilación a nivel de secuencia",
    "peak_rss_gb": "memoria máxima (RSS, GB)",
}
"""Spanish labels of the stage summaries in `card.json` (`training.artifacts.CARD_FIELDS` has the English)."""
_STAGES = {"pretrain": "preentrenamiento", "instruct": "ajuste de instrucciones", "distill": "destilación"}
_VALUES = {"scratch": "cero (pesos aleatorios)", "smollm2": "SmolLM2-135M-Instruct", "gemma3": "Gemma 3 270M",
           True: "sí", False: "no"}


def spanish_card(model_dir: Path, evaluation: dict | None = None) -> str | None:
    """The model card as a student reads it, from `card.json` (None for checkpoints without one):
    what the model is, how it was trained, and the figures of the evaluation report beside it."""
    try:
        card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    a = card.get("architecture", {})
    rows = [("arquitectura", f"decodificador tipo Llama: {a.get('layers')} capas, dimensión {a.get('hidden')}, "
                             f"{a.get('heads')} cabezas, vocabulario {a.get('vocab')}, contexto {a.get('context')}"),
            ("parámetros", f"{a.get('parameters', 0):,}".replace(",", "."))]
    for key, value in card.get("summary", {}).items():
        if value is not None:
            rows.append((CARD_LABELS.get(key, key), _VALUES.get(value, value) if isinstance(value, str | bool) else value))
    for key, label in (("perplexity", "perplejidad en el texto reservado (informe de evaluación)"),
                       ("copy_accuracy", "acierto copiando del contexto (informe de evaluación)"),
                       ("size_mb", "tamaño en disco (MB)")):
        if (evaluation or {}).get(key) is not None:
            rows.append((label, evaluation[key]))
    stage = _STAGES.get(card.get("stage"), card.get("stage"))
    lines = [card.get("description", ""), "",
             f"Hecho por `python -m training.{card.get('stage')}` ({stage}, perfil `{card.get('profile')}`).", "",
             "| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows], "",
             "Las velocidades de esta ficha son del entrenamiento, en la máquina que lo hizo; las de responder "
             "están en la tabla de evaluación y en `python -m assistant bench`."]
    return "\n".join(lines)


ANSWER_COLUMNS = {"correct": "correctas", "key_share": "claves presentes", "token_f1": "F1", "rouge_l": "ROUGE-L",
                  "words": "palabras", "tokens_per_s": "tokens/s", "ttft_s": "primer token (s)", "n": "preguntas"}
TRAINING_COLUMNS = {"perplexity": "perplejidad", "copy_accuracy": "copia", "parameters": "parámetros",
                    "size_mb": "MB"}


def answer_rows(report: dict) -> dict[str, dict]:
    """Per variant (baselines included), the pooled answer figures of the report, Spanish column names;
    a figure a variant lacks is left out rather than shown as None."""
    return _rows(report.get("answers_pooled", {}).get("variants", {}), ANSWER_COLUMNS)


def training_rows(report: dict) -> dict[str, dict]:
    """Per variant, the training-side figures (`python -m training.evaluate`), Spanish column names."""
    rows = _rows(report.get("variants", {}), TRAINING_COLUMNS)
    return {ROW_NAMES.get(n, n): r for n, r in rows.items()}


ROW_NAMES = {"untrained": "sin entrenar (misma arquitectura, pesos aleatorios)"}


def _rows(section: dict, columns: dict[str, str]) -> dict[str, dict]:
    rows = {}
    for name, figures in section.items():
        row = {label: figures.get(k) for k, label in columns.items() if isinstance(figures, dict)}
        if row := {k: v for k, v in row.items() if v is not None}:
            rows[name] = row
    return rows


def describe_margin(margin: dict, what: str = "respuestas correctas") -> str:
    """A tuned-vs-base margin of the report (`answer_bars["correct: tuned - base"]`) as one sentence."""
    low, high = margin["ci"]
    verdict = ("el intervalo queda por encima de cero: la mejora no se explica por las preguntas elegidas."
               if low > 0 else "el intervalo incluye el cero o queda por debajo: con estas preguntas, la "
               "diferencia puede ser ruido.")
    return (f"**tuned − base**, {what}: {margin['mean']:+.1%} (IC {margin.get('confidence', 0.95):.0%}: "
            f"[{low:+.1%}, {high:+.1%}], {margin['n']} preguntas, bootstrap pareado); {verdict}")
