"""Next token: an answer's tokens coloured by probability, and the distribution at one position."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from assistant.answer import Answer

from .state import recent_answers


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
    st.markdown(f"Token elegido en la posición {pos}: `{token_label(step.token)}` con probabilidad "
                f"**{step.prob:.3f}**")
    st.vega_lite_chart(distribution(step), {
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "token", "type": "nominal", "sort": None, "title": None},
            # A fixed 0-1 axis: a 1.5 % token must look small, not fill the chart.
            "x": {"field": "probabilidad", "type": "quantitative", "scale": {"domain": [0, 1]}},
            "color": {"field": "tipo", "type": "nominal", "title": None},
        },
    }, width="stretch")
    st.caption("Son las probabilidades con los ajustes con que se generó esta respuesta (temperatura, top-k, "
               "top-p). Para ver el efecto de otros ajustes, cámbialos en la barra lateral y genera una "
               "respuesta nueva en Chat o en Comparar.")


SPECIAL = {"<|im_end|>": "⟨fin de turno⟩", "<|im_start|>": "⟨inicio de turno⟩", "<|endoftext|>": "⟨fin de texto⟩",
           "</s>": "⟨fin de texto⟩", "<eos>": "⟨fin de texto⟩", "<end_of_turn>": "⟨fin de turno⟩"}


def token_label(token: str) -> str:
    """A token as a student reads it: special tokens named, spaces and line breaks visible."""
    if token in SPECIAL:
        return SPECIAL[token]
    return token.replace("\n", "↵").replace(" ", "·") or "(vacío)"


def distribution(step) -> pd.DataFrame:
    """The top alternatives, best first, then what the rest of the vocabulary shares."""
    rows = [(f"{i}. {token_label(t)}", p, "elegido" if t == step.token else "alternativa")
            for i, (t, p) in enumerate(step.top, 1)]
    rest = max(0.0, 1.0 - sum(p for _, p in step.top))
    rows.append(("resto del vocabulario", rest, "resto"))
    return pd.DataFrame(rows, columns=["token", "probabilidad", "tipo"])


def answers_with_steps() -> dict[str, Answer]:
    """This session's generated answers that carry token probabilities, newest first."""
    return {label: a for label, a in reversed(recent_answers().items()) if a.steps}


def coloured_tokens(answer: Answer) -> str:
    spans = []
    for i, s in enumerate(answer.steps, 1):
        hue = int(120 * s.prob)  # 0 = red, 120 = green
        title = html.escape(f"{i}: p={s.prob:.3f}", quote=True)
        text = html.escape(SPECIAL.get(s.token, s.token)).replace("\n", "↵<br>")
        spans.append(f'<span title="{title}" style="background:hsl({hue},70%,80%);color:#111;'
                     f'padding:1px 2px;margin:1px;border-radius:3px;white-space:pre-wrap">{text}</span>')
    return f'<div style="line-height:2">{"".join(spans)}</div>'
