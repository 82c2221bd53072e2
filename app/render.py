"""How an Answer looks on the page: text, reasoning, notices, stats, sources with highlighted text."""

from __future__ import annotations

import re

import streamlit as st

from assistant.answer import Answer, highlight
from assistant.engine import AnswerStream

CURSOR = "▌"
_BLOCK_MARKUP = re.compile(r"^(\s{0,3})(#{1,6}|={3,}|-{3,}|>)", re.MULTILINE)


def model_text(text: str) -> str:
    """A model's words shown as written: Markdown headings, rules and quotes a small model emits by
    imitation are escaped, so they cannot take over the page. Inline emphasis and math stay."""
    return _BLOCK_MARKUP.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def stream_into(placeholder, stream: AnswerStream) -> Answer:
    """Show the text as it arrives, then leave the placeholder empty for the final rendering."""
    text = ""
    for piece in stream:
        text += piece
        placeholder.markdown(model_text(text) + CURSOR)
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
            st.markdown(model_text(a.reasoning))
    st.markdown(model_text(a.text) if a.text else "_(respuesta vacía)_")
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
        label = f"[{p.number}] {p.where}" + (" — citado" if p.number in cited else "")
        with st.expander(label, expanded=False):
            st.markdown(highlight(p.text, a.text) if p.number in cited else p.text)
            st.caption(f"puntuación de recuperación {p.score:.3f}")
