"""How an Answer looks on the page: text, reasoning, notices, stats, sources with highlighted text."""

from __future__ import annotations

import streamlit as st

from assistant.answer import Answer, highlight
from assistant.engine import AnswerStream

CURSOR = "▌"


def stream_into(placeholder, stream: AnswerStream) -> Answer:
    """Show the text as it arrives, then leave the placeholder empty for the final rendering."""
    text = ""
    for piece in stream:
        text += piece
        placeholder.markdown(text + CURSOR)
    placeholder.empty()
    return stream.answer


def answer(a: Answer, compact: bool = False) -> None:
    if a.error:
        st.error(a.error)
    for note in a.notices:
        st.info(note)
    if a.error:
        return
    if a.reasoning:
        with st.expander("Razonamiento (cadena de pensamiento)"):
            st.markdown(a.reasoning)
    st.markdown(a.text or "_(respuesta vacía)_")
    if a.invalid_citations:
        st.warning("Cita pasajes que no recibió: " + ", ".join(f"[{n}]" for n in a.invalid_citations))
    if a.stats is not None:
        st.caption(a.stats.line())
    elif a.extractive:
        st.caption("respuesta extractiva: los pasajes recuperados, sin modelo")
    sources(a, compact)


def sources(a: Answer, compact: bool = False) -> None:
    cited = {c.number for c in a.citations if c.valid}
    if compact:
        if a.passages:
            st.caption("Fuentes: " + " · ".join(
                f"{'**' if p.number in cited else ''}[{p.number}] {p.source}{'**' if p.number in cited else ''}"
                for p in a.passages))
        return
    for p in a.passages:
        where = " · ".join(x for x in (p.source, p.heading, p.location) if x)
        label = f"[{p.number}] {where}" + (" — citado" if p.number in cited else "")
        with st.expander(label, expanded=False):
            st.markdown(highlight(p.text, a.text) if p.number in cited else p.text)
            st.caption(f"puntuación de recuperación {p.score:.3f}")
