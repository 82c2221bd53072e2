"""Models: training curves, the evaluation report and the model cards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from assistant.engine import Engine
from assistant.model_info import answer_rows, curves, describe_margin, read_card, read_metrics, read_report
from assistant.registry import VARIANTS


def page(eng: Engine) -> None:
    models_dir = eng.config.models_dir
    if notice := eng.models_notice():
        st.info(notice)
    report_table(models_dir, eng.config.train_command())
    for name in VARIANTS:
        folder = models_dir / name
        if folder.is_dir():
            variant_section(name, folder)


def report_table(models_dir: Path, train_command: str) -> None:
    report = read_report(models_dir)
    st.subheader("Evaluación")
    rows = answer_rows(report)
    if not rows:
        st.caption(f"Sin informe de evaluación (`{models_dir / 'report.json'}`); lo escriben `{train_command}` y "
                   f"`python -m assistant evaluate --report {models_dir / 'report.json'}`.")
        return
    st.dataframe(pd.DataFrame(rows).T, width="stretch")
    sets = report.get("answers_pooled", {}).get("sets", [])
    if sets:
        st.caption(f"Respuestas puntuadas con el mismo camino que el chat (preguntas: {', '.join(sets)}). "
                   "Correcta: contiene cada dato clave de la respuesta de referencia. "
                   "extractivo / primeras-frases: frases de los pasajes, sin modelo.")
    if margin := report.get("answer_bars", {}).get("correct: tuned - base"):
        st.markdown(describe_margin(margin))
    if best := report.get("best_variant"):
        st.caption(f"El chat abre con **{best}**, la variante con más respuestas correctas.")


def variant_section(name: str, folder: Path) -> None:
    st.subheader(name)
    rows = read_metrics(folder / "metrics.jsonl")
    series = curves(rows, ("loss", "eval_loss", "eval_ppl"))
    left, right = st.columns(2)
    with left:
        losses = {k: v for k, v in series.items() if k in ("loss", "eval_loss")}
        if losses:
            st.caption("pérdida (entropía cruzada) por paso")
            st.line_chart(_frame(losses))
        else:
            st.caption("sin métricas de entrenamiento (metrics.jsonl)")
    with right:
        if "eval_ppl" in series:
            st.caption("perplejidad en el conjunto de validación")
            st.line_chart(_frame({"eval_ppl": series["eval_ppl"]}))
    card = read_card(folder)
    if card:
        with st.expander(f"Ficha del modelo {name}"):
            st.markdown(card)


def _frame(series: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    frames = [pd.DataFrame(points, columns=["paso", key]).drop_duplicates("paso", keep="last").set_index("paso")
              for key, points in series.items()]
    # eval metrics come every few steps: join their points instead of leaving gaps between them
    return pd.concat(frames, axis=1).sort_index().interpolate(limit_area="inside")
