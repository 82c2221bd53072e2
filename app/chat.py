"""Chat: history in this session only, streamed answers with sources and stats."""

from __future__ import annotations

import streamlit as st

from assistant.answer import EXTRACTIVE
from assistant.engine import Engine

from . import render
from .state import Controls, remember

HISTORY = "chat_history"


def page(eng: Engine, c: Controls) -> None:
    history = st.session_state.setdefault(HISTORY, [])
    # The exchanges go into a container drawn first, the input after it: the input stays below the
    # newest answer, which streams into the container above it.
    exchanges = st.container()
    question = st.chat_input("Pregunta sobre el curso, p. ej. ¿Qué es teacher forcing?")
    with exchanges:
        for turn in history:
            show_turn(turn)
        if question:
            with st.chat_message("user"):
                st.markdown(question)
            with st.chat_message("assistant"):
                st.caption(model_label(eng, c.variant))
                answer = respond(eng, c, question)
                render.answer(answer)
            remember(f"Chat {len(history) + 1} · {answer.variant or 'sin modelo'} · {question[:50]}", answer)
            history.append({"question": question, "answer": answer, "model": model_label(eng, c.variant)})


def show_turn(turn: dict) -> None:
    with st.chat_message("user"):
        st.markdown(turn["question"])
    with st.chat_message("assistant"):
        st.caption(turn.get("model", ""))
        render.answer(turn["answer"])


def model_label(eng: Engine, variant: str | None) -> str:
    """Which model wrote an answer, so the history stays clear after switching variants."""
    if variant in (None, EXTRACTIVE):
        return "Sin modelo: respuesta extractiva (frases de los pasajes recuperados)"
    return f"Modelo: {eng.label(variant)}"


def respond(eng: Engine, c: Controls, question: str):
    """The engine's one streamed answer (a model's, the extractive one, or why there is none), drawn
    as it arrives."""
    placeholder = st.empty()
    # A still line, not st.spinner: an animation redrawn the whole time a model generates cost the
    # browser a share of the cores generation runs on (when they share a machine).
    placeholder.caption("Buscando los pasajes y generando la respuesta…")
    stream = eng.stream(c.variant, eng.prepare(question, c.k), c.settings, c.cot)
    return render.stream_into(placeholder, stream)
