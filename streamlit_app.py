"""Course assistant UI. For now: search the course material (the RAG chat arrives with the app issue).

Thin on purpose: everything it shows comes from `assistant`.
"""

import streamlit as st

from assistant.retrieval import DEFAULT_INDEX, retrieve
from index import HybridIndex, IndexNotFoundError

st.set_page_config(page_title="Asistente del curso", page_icon="📚")
st.title("Asistente del curso de PLN")
st.caption("Redes neuronales para el análisis y la generación de texto")


@st.cache_resource(show_spinner="Cargando el índice…")
def load_index(path: str) -> HybridIndex:
    return HybridIndex.load(path)


with st.sidebar:
    k = st.slider("Pasajes a mostrar", 1, 10, 5)
    modo = st.radio("Búsqueda", ["híbrida", "léxica", "densa"], horizontal=True)

try:
    index = load_index(str(DEFAULT_INDEX))
except IndexNotFoundError:
    st.info(f"Todavía no hay índice en `{DEFAULT_INDEX}`. Creálo con `make run` o con "
            f"`python -m index build --docs course --out {DEFAULT_INDEX}`.")
    st.stop()

pregunta = st.text_input("Tu pregunta sobre el curso", placeholder="¿Qué es teacher forcing?")
if pregunta.strip():
    mode = {"híbrida": "hybrid", "léxica": "lexical", "densa": "dense"}[modo]
    pasajes = retrieve(index, pregunta[:4000], k=k, mode=mode)
    if not pasajes:
        st.warning("No encontré pasajes del curso para esa pregunta.")
    for p in pasajes:
        donde = " · ".join(x for x in (p.source, p.heading, p.location) if x)
        with st.expander(f"[{p.number}] {donde}", expanded=p.number == 1):
            st.markdown(p.text)
            st.caption(f"puntaje {p.score:.3f}")
