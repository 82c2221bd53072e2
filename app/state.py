"""Heavy objects shared by every session (cached) and the sidebar controls of this session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from assistant import documents, registry, retrieval
from assistant.engine import Engine, load_index
from assistant.registry import Registry, shared_registry
from assistant.settings import STRATEGIES, STRATEGY_LABELS, DecodingSettings, SettingsError


def paths() -> tuple[Path, Path, Path]:
    """(index, models, docs): read at run time so tests and `COURSE_*` variables can point elsewhere."""
    docs = Path(os.environ.get("COURSE_DOCS", str(documents.DEFAULT_DOCS)))
    return Path(retrieval.DEFAULT_INDEX), Path(registry.DEFAULT_MODELS), docs


@st.cache_resource(show_spinner="Cargando el índice…")
def cached_index(path: str):
    """Cached only on success (an exception is not cached), so a later build is picked up."""
    index, error = load_index(Path(path))
    if index is None:
        raise FileNotFoundError(error)
    return index


@st.cache_resource(show_spinner=False)
def cached_registry(models_dir: str, include_reference: bool) -> Registry:
    # On top of the process-wide registry: one object, whatever the number of sessions.
    return shared_registry(models_dir, include_reference)


def engine() -> Engine:
    index_dir, models_dir, _ = paths()
    reg = cached_registry(str(models_dir), registry.reference_enabled())
    reg.refresh()  # cheap: notices models created after the app started
    try:
        return Engine(index_dir, registry=reg, index=cached_index(str(index_dir)))
    except FileNotFoundError as exc:
        return Engine(index_dir, registry=reg, index=None, index_error=str(exc))


def load_models(eng: Engine) -> None:
    """Load every variant before the first question, with a visible spinner (once per process)."""
    for name in eng.variants:
        if not eng.registry.is_loaded(name):
            with st.spinner(f"Cargando el modelo {name}…"):
                try:
                    eng.registry.get(name)
                except Exception as exc:  # shown in its column / chat when used
                    st.warning(f"{name}: {exc}")


@dataclass
class Controls:
    variant: str | None
    cot: bool
    k: int
    settings: DecodingSettings


def sidebar(eng: Engine) -> Controls:
    with st.sidebar:
        st.header("Ajustes")
        names = eng.variants
        if names:
            default = names.index(eng.default_variant())
            variant = st.selectbox("Modelo (Chat)", names, index=default, key="variant",
                                   format_func=lambda n: eng.registry.info(n).label)
        else:
            variant = None
            st.caption("Sin modelos: respuestas extractivas (los pasajes recuperados).")
        cot = st.toggle("Cadena de pensamiento (CoT)", key="cot",
                        help="El modelo razona paso a paso antes de la respuesta final.")
        k = st.slider("Pasajes recuperados", 1, 10, 5, key="k")
        settings = decoding_controls()
    return Controls(variant, cot, k, settings)


def decoding_controls() -> DecodingSettings:
    st.subheader("Decodificación")
    strategy = st.radio("Estrategia", STRATEGIES, key="strategy", format_func=STRATEGY_LABELS.get)
    active = DecodingSettings(strategy=strategy).active_fields()
    d = DecodingSettings()
    values = {
        "num_beams": st.slider("Haces (num_beams)", 2, 8, d.num_beams, key="num_beams",
                               disabled="num_beams" not in active),
        "length_penalty": st.slider("Penalización de longitud", -2.0, 2.0, d.length_penalty, 0.1,
                                    key="length_penalty", disabled="length_penalty" not in active),
        "temperature": st.slider("Temperatura", 0.05, 2.0, d.temperature, 0.05, key="temperature",
                                 disabled="temperature" not in active),
        "top_k": st.slider("top-k (0 = sin filtro)", 0, 200, d.top_k, key="top_k", disabled="top_k" not in active),
        "top_p": st.slider("top-p", 0.05, 1.0, d.top_p, 0.05, key="top_p", disabled="top_p" not in active),
        "seed": st.number_input("Semilla", 0, 2**31 - 1, d.seed, key="seed", disabled="seed" not in active),
        "repetition_penalty": st.slider("Penalización de repetición", 1.0, 2.0, d.repetition_penalty, 0.05,
                                        key="repetition_penalty"),
        "max_new_tokens": st.slider("Máx. tokens nuevos", 8, 512, d.max_new_tokens, 8, key="max_new_tokens"),
    }
    try:
        return DecodingSettings(strategy=strategy, **values)
    except SettingsError as exc:
        st.error(str(exc))
        return DecodingSettings()
