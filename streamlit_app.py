"""Course assistant UI: `streamlit run streamlit_app.py` (or `make run`).

Thin on purpose: the views live in `app/`, and everything they show comes from `assistant`.
"""

import streamlit as st

st.set_page_config(page_title="Asistente del curso", page_icon="📚", layout="wide")
# A formula wider than its column (Comparar's four columns: the perplexity's PPL = exp(-1/T Σ log P(...))) scrolls
# inside it instead of running over the next model's answer. Style tags alone take no room on the page.
st.html("<style>[data-testid='stMarkdownContainer'] .katex-display, [data-testid='stMarkdownContainer'] .katex "
        "{ display: inline-block; max-width: 100%; overflow-x: auto; overflow-y: hidden; vertical-align: middle; }"
        "</style>")
st.title("Asistente del curso de PLN")
st.caption("Redes neuronales para el análisis y la generación de texto")

# The title is on the page before the heavy imports (PyTorch, transformers: seconds on a cold start), so a
# student sees what is happening instead of a grey skeleton.
with st.spinner("Arrancando: cargando PyTorch, el índice y los modelos (solo la primera vez)…"):
    from app import chat, compare, documents, models, next_token, state
    from assistant.generation import serial_torch

    serial_torch()  # this run's thread reads the answers' streams: PyTorch on one thread here, every core in the worker
    engine = state.engine()
controls = state.sidebar(engine)

if engine.index is None:
    st.info(engine.index_error)
if notice := engine.models_notice():
    st.info(notice)
state.load_models(engine)

TABS = ["Chat", "Comparar", "Siguiente token", "Documentos", "Modelos"]
chat_tab, compare_tab, token_tab, docs_tab, models_tab = st.tabs(TABS, key="vista", on_change="rerun")
with chat_tab:
    if chat_tab.open:
        chat.page(engine, controls)
with compare_tab:
    if compare_tab.open:
        compare.page(engine, controls)
with token_tab:
    if token_tab.open:
        next_token.page()
with docs_tab:
    if docs_tab.open:
        documents.page(engine)
with models_tab:
    if models_tab.open:
        models.page(engine)
