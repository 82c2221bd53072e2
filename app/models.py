"""Models: training curves, the evaluation report and the model cards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from assistant.engine import Engine
from assistant.model_info import curves, describe_margin, read_card, read_metrics, read_report
from assistant.registry import TRAIN_COMMAND, VARIANTS


def page(eng: Engine, models_dir: Path) -> None:
    if notice := eng.models_notice():
        st.info(notice)
    report_table(models_dir)
    for name in VARIANTS:
        folder = models_dir / name
        if folder.is_dir():
            variant_section(name, folder)


def report_table(models_dir: Path) -> None:
    report = read_report(models_dir)
    st.subheader("Evaluación")
    if not report.get("variants"):
        st.caption(f"Sin informe de evaluación (`{models_dir / 'report.json'}`); lo escribe `{TRAIN_COMMAND}`.")
        return
    # per-question scores and sample answers are for the JSON reader, not for a table cell
    rows = {name: {k: v for k, v in row.items() if not isinstance(v, list)} for name, row in report["variants"].items()}
    st.dataframe(pd.DataFrame(rows).T)
    bars = report.get("bars", {})
    if margin := bars.get("tuned_vs_base_unseen_f1") or bars.get("tuned_vs_base_f1"):
        st.markdown(describe_margin(margin))
    extra = {k: v for k, v in report.items() if k != "variants" and not isinstance(v, dict | list)}
    if extra:
        st.caption(" · ".join(f"{k}: {v}" for k, v in extra.items()))


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
