"""Next token: an answer's tokens coloured by probability, and the distribution at one position."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from assistant.answer import Answer

from .chat import HISTORY
from .compare import LAST


def page() -> None:
    st.caption("Cada token generado, coloreado por la probabilidad que le dio el modelo (tras temperatura, "
               "top-k y top-p). Elige una posición para ver las alternativas que tenía.")
    choices = answers_with_steps()
    if not choices:
        st.info("Todavía no hay respuestas generadas por un modelo: pregunta en Chat o en Comparar.")
        return
    label = st.selectbox("Respuesta", list(choices), key="nt_answer")
    answer = choices[label]
    st.html(coloured_tokens(answer))
    st.caption("rojo = poco probable · verde = muy probable")
    n = len(answer.steps)
    pos = st.slider("Posición", 1, n, 1, key="nt_pos") if n > 1 else 1
    step = answer.steps[pos - 1]
    st.markdown(f"Token elegido en la posición {pos}: `{step.token!r}` con probabilidad **{step.prob:.3f}**")
    data = pd.DataFrame({"probabilidad": [p for _, p in step.top]},
                        index=[f"{i}. {t!r}" for i, (t, _) in enumerate(step.top, 1)])
    st.bar_chart(data, horizontal=True)


def answers_with_steps() -> dict[str, Answer]:
    out: dict[str, Answer] = {}
    for i, turn in enumerate(st.session_state.get(HISTORY, []), 1):
        if turn["answer"].steps:
            out[f"Chat {i} · {turn['answer'].variant} · {turn['question'][:50]}"] = turn["answer"]
    for name, a in (st.session_state.get(LAST) or {}).get("answers", {}).items():
        if a.steps:
            out[f"Comparar · {name}"] = a
    return out


def coloured_tokens(answer: Answer) -> str:
    spans = []
    for i, s in enumerate(answer.steps, 1):
        hue = int(120 * s.prob)  # 0 = red, 120 = green
        title = html.escape(f"{i}: p={s.prob:.3f}", quote=True)
        text = html.escape(s.token).replace("\n", "↵<br>")
        spans.append(f'<span title="{title}" style="background:hsl({hue},70%,80%);color:#111;'
                     f'padding:1px 2px;margin:1px;border-radius:3px;white-space:pre-wrap">{text}</span>')
    return f'<div style="line-height:2">{"".join(spans)}</div>'
