"""How an Answer looks on the page: text, reasoning, notices, stats, sources with highlighted text."""

from __future__ import annotations

import re
import time

import streamlit as st

from assistant.answer import COT_UNSEPARATED, Answer, highlight
from assistant.engine import AnswerStream

CURSOR = "▌"
_BLOCK_MARKUP = re.compile(r"^(\s{0,3})(#{1,6}|={3,}|-{3,}|>)", re.MULTILINE)


_MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.DOTALL)


def model_text(text: str) -> str:
    """A model's words shown as written: Markdown headings, rules and quotes a small model emits by
    imitation are escaped, so they cannot take over the page. Inline emphasis stays, and so does math
    that KaTeX can typeset; broken math (unbalanced braces, a lone `$`, an answer cut inside a formula)
    is shown as plain text instead of a red KaTeX error."""
    return _safe_math(_BLOCK_MARKUP.sub(lambda m: m.group(1) + "\\" + m.group(2), text))


def _balanced(tex: str) -> bool:
    depth = 0
    for i, c in enumerate(tex):
        if c in "{}" and i and tex[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0 and tex.count("\\left") == tex.count("\\right") and tex.strip() != ""


def _safe_math(text: str) -> str:
    out, pos = [], 0
    for m in _MATH.finditer(text):
        out.append(text[pos : m.start()].replace("$", "\\$"))
        tex = m.group(1) if m.group(1) is not None else m.group(2)
        out.append(m.group(0) if _balanced(tex) else m.group(0).replace("$", "\\$"))
        pos = m.end()
    out.append(text[pos:].replace("$", "\\$"))
    return "".join(out)


REDRAW_S = 0.15
"""Streamed text is redrawn at most this often: each redraw sends and renders the whole text so far,
which per token cost the browser and the server a share of the cores generation runs on."""


def stream_into(placeholder, stream: AnswerStream) -> Answer:
    """Show the text as it arrives, then leave the placeholder empty for the final rendering."""
    text, last = "", 0.0
    for piece in stream:
        text += piece
        if time.monotonic() - last >= REDRAW_S:
            placeholder.markdown(model_text(text) + CURSOR)
            last = time.monotonic()
    placeholder.empty()
    return stream.answer


def answer(a: Answer, compact: bool = False) -> None:
    if a.error:
        st.error(a.error)
    for note in a.notices:
        if not (a.cot and note == COT_UNSEPARATED):  # said inside the reasoning section below
            st.info(note)
    if a.error:
        return
    if a.cot:
        with st.expander("Razonamiento (cadena de pensamiento)", expanded=not a.reasoning):
            st.markdown(model_text(a.reasoning) if a.reasoning else COT_UNSEPARATED)
    st.markdown(model_text(a.text) if a.text else "_(respuesta vacía)_")
    if a.invalid_citations:
        st.warning("Cita pasajes que no recibió: " + ", ".join(f"[{n}]" for n in a.invalid_citations))
    if a.stats is not None:
        st.caption(a.stats.line() + (f" · {a.context}" if a.context else ""))
    elif a.extractive:
        st.caption("respuesta extractiva: los pasajes recuperados, sin modelo")
    sources(a, compact)


SUPPORT_HELP = ("«respaldado»: al menos el 60 % de las palabras con contenido del texto que cita el pasaje "
                "están en él; «sin respaldo»: la respuesta lo cita, pero lo que dice no está en ese pasaje.")


def citation_mark(a: Answer, number: int) -> str:
    """« — citado, respaldado» / « — citado, sin respaldo» / '' for a passage the answer does not cite."""
    marks = [c for c in a.citations if c.valid and c.number == number]
    if not marks:
        return ""
    return " — citado, respaldado ✓" if any(c.supported for c in marks) else " — citado, sin respaldo ✗"


def sources(a: Answer, compact: bool = False) -> None:
    supported = {c.number for c in a.citations if c.supported}
    if compact:
        if a.passages:
            st.caption("Fuentes: " + " · ".join(
                f"[{p.number}] {p.source}{citation_mark(a, p.number).replace(' — citado,', '')}"
                for p in a.passages), help=SUPPORT_HELP)
        return
    if a.citations:
        st.caption(SUPPORT_HELP)
    for p in a.passages:
        with st.expander(f"[{p.number}] {p.where}{citation_mark(a, p.number)}", expanded=False):
            st.markdown(highlight(p.text, a.text) if p.number in supported else p.text)
            relevance = f" · similitud con la pregunta {p.relevance:.3f}" if p.relevance is not None else ""
            st.caption(f"puntuación de recuperación {p.score:.3f}{relevance}")
