"""Models: training curves, the evaluation report and the model cards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from assistant.answer import EXTRACTIVE
from assistant.engine import Engine
from assistant.model_info import (
    answer_rows,
    curves,
    describe_margin,
    read_card,
    read_metrics,
    read_report,
    spanish_card,
    training_rows,
)
from assistant.registry import VARIANTS


def page(eng: Engine) -> None:
    models_dir = eng.config.models_dir
    if notice := eng.models_notice():
        st.info(notice)
    report_table(models_dir, eng.config.train_command())
    evaluated = read_report(models_dir).get("variants", {})
    for name in VARIANTS:
        folder = models_dir / name
        if folder.is_dir():
            variant_section(name, folder, evaluated.get(name))


def report_table(models_dir: Path, train_command: str) -> None:
    report = read_report(models_dir)
    st.subheader("Evaluación")
    answers, training = answer_rows(report), training_rows(report)
    if not answers and not training:
        st.caption(f"Sin informe de evaluación (`{models_dir / 'report.json'}`); lo escriben `{train_command}` y "
                   f"`python -m assistant evaluate --report {models_dir / 'report.json'}`.")
        return
    if answers:
        st.markdown("**Respuestas**")
        st.dataframe(pd.DataFrame(answers).T, width="stretch")
        sets = report.get("answers_pooled", {}).get("sets", [])
        st.caption(f"Respuestas puntuadas con el mismo camino que el chat (preguntas: {', '.join(sets) or '—'}). "
                   "Correcta: contiene cada dato clave de la respuesta de referencia. "
                   "extractivo / primeras-frases: frases de los pasajes, sin modelo. tokens/s y primer token: "
                   "medidos al responder esas preguntas en la máquina de la evaluación.")
    if margin := report.get("answer_bars", {}).get("correct: tuned - base"):
        st.markdown(describe_margin(margin))
    if best := report.get("best_variant"):
        if best == EXTRACTIVE:
            st.caption("El chat abre con la respuesta **extractiva** (frases de los pasajes, sin modelo): ningún "
                       "modelo respondió bien más a menudo. Cualquier modelo se puede elegir en la barra lateral.")
        else:
            st.caption(f"El chat abre con **{best}**, la variante con más respuestas correctas.")
    if training:
        st.markdown("**Entrenamiento**")
        st.dataframe(pd.DataFrame(training).T, width="stretch")
        st.caption(PERPLEXITY_NOTE)


PERPLEXITY_NOTE = ("«perplejidad»: sobre párrafos del curso reservados al preentrenar (texto corrido). Las curvas "
                   "de validación de tuned y distilled miden otra cosa, la perplejidad de las respuestas de "
                   "validación con sus pasajes en el prompt, que copian en parte: por eso sus valores son más bajos. "
                   "«copia»: acierto al repetir secuencias aleatorias del contexto.")

TRAIN_LOSS = {
    "base": "entropía cruzada (texto del curso, entrenamiento)",
    "scratch": "entropía cruzada de las respuestas (entrenamiento)",
    "tuned": "entropía cruzada de las respuestas (entrenamiento)",
    "distilled": "pérdida de destilación (1−α)·CE + α·T²·KL (entrenamiento)",
}
VALIDATION = {
    "base": "perplejidad del texto del curso reservado",
    "scratch": "perplejidad de las respuestas de validación",
    "tuned": "perplejidad de las respuestas de validación",
    "distilled": "perplejidad de las respuestas de validación (entropía cruzada, sin el término KL)",
}


def variant_section(name: str, folder: Path, evaluation: dict | None) -> None:
    st.subheader(name)
    series = curves(read_metrics(folder / "metrics.jsonl"), ("loss", "eval_ppl"))
    if not series:
        st.caption("sin métricas de entrenamiento (metrics.jsonl)")
    # One measure per chart: the training loss (for distilled, a KD loss) and a validation figure on
    # different scales and data would read as over-fitting if drawn together.
    left, right = st.columns(2)
    with left:
        if "loss" in series:
            st.caption(f"{TRAIN_LOSS.get(name, 'pérdida de entrenamiento')}, por paso")
            st.line_chart(_frame({"pérdida": series["loss"]}), x_label="paso", y_label="pérdida")
    with right:
        points = series.get("eval_ppl", [])
        what = VALIDATION.get(name, "perplejidad de validación")
        if len(points) > 1:
            st.caption(f"{what}, por paso")
            st.line_chart(_frame({"perplejidad": points}), x_label="paso", y_label="perplejidad")
        elif points:  # evaluated once, at the end: a line chart of one point draws nothing
            step, value = points[0]
            st.metric(f"{what} (al final, paso {step:g})", f"{value:.2f}")
    card = spanish_card(folder, evaluation)
    with st.expander(f"Ficha del modelo {name}"):
        if card is not None:
            st.markdown(card)
        elif readme := read_card(folder):
            st.caption("Ficha técnica de un entrenamiento anterior (en inglés); un nuevo `make models` la escribe en español.")
            st.markdown(readme)
        else:
            st.caption("Sin ficha (card.json).")


def _frame(series: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    frames = [pd.DataFrame(points, columns=["paso", key]).drop_duplicates("paso", keep="last").set_index("paso")
              for key, points in series.items()]
    # eval metrics come every few steps: join their points instead of leaving gaps between them
    return pd.concat(frames, axis=1).sort_index().interpolate(limit_area="inside")
