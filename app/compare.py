"""Compare: one question, the same passages and settings, one column per variant."""

from __future__ import annotations

import streamlit as st

from assistant.engine import Engine

from . import render
from .state import Controls, remember

LAST = "compare_last"


def page(eng: Engine, c: Controls) -> None:
    st.caption("La misma pregunta, los mismos pasajes y los mismos ajustes de decodificación para cada modelo.")
    with st.form("compare_form"):
        question = st.text_input("Pregunta", placeholder="¿Qué diferencia hay entre búsqueda voraz y en haz?",
                                 key="compare_question")
        submitted = st.form_submit_button("Comparar")
    if submitted:
        run(eng, c, question)
    elif last := st.session_state.get(LAST):
        show(eng, last["answers"], last["passages"])


def run(eng: Engine, c: Controls, question: str) -> None:
    prepared = eng.prepare(question, c.k)
    if prepared.question.problem:
        st.warning(prepared.question.problem)
        return
    streams = eng.compare_streams(prepared, c.settings, c.cot)  # the engine's compare, column by column
    answers = {}
    for (name, stream), col in zip(streams.items(), st.columns(len(streams)), strict=True):
        with col:
            st.subheader(eng.label(name))
            answers[name] = render.stream_into(st.empty(), stream)
            render.answer(answers[name], compact=True)
            remember(f"Comparar · {name}", answers[name])
    st.session_state[LAST] = {"answers": answers, "passages": prepared.passages}
    shared_sources(prepared.passages)


def show(eng: Engine, answers: dict, passages) -> None:
    for (name, answer), col in zip(answers.items(), st.columns(len(answers)), strict=True):
        with col:
            st.subheader(eng.label(name))
            render.answer(answer, compact=True)
    shared_sources(passages)


def shared_sources(passages) -> None:
    if not passages:
        return
    st.markdown("**Pasajes recuperados**")
    st.caption("Recuperados una vez para todos los modelos; cada uno recibe los que caben en su contexto, "
               "como dice la línea de su respuesta.")
    for p in passages:
        with st.expander(f"[{p.number}] {p.where}"):
            st.markdown(p.text)
