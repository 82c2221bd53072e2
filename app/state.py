"""Heavy objects shared by every session (cached) and the sidebar controls of this session."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from assistant.config import AppConfig
from assistant.engine import Engine, load_index
from assistant.registry import Registry, shared_registry
from assistant.settings import STRATEGIES, STRATEGY_LABELS, DecodingSettings, SettingsError


@st.cache_resource(show_spinner="Cargando el índice…")
def cached_index(index_dir: str, _config: AppConfig):
    """One index per folder, cached only on success (an exception is not cached), so a later build is
    picked up. `_config` (not part of the cache key) words the message when there is none."""
    index, error = load_index(_config)
    if index is None:
        raise FileNotFoundError(error)
    return index


@st.cache_resource(show_spinner=False)
def cached_registry(models_dir: str, include_reference: bool) -> Registry:
    # On top of the process-wide registry: one object, whatever the number of sessions.
    return shared_registry(models_dir, include_reference)


def engine() -> Engine:
    """This run's engine over the process-wide index and models. The configuration is read from the
    environment on every run (cheap), so tests and `COURSE_*` variables can point elsewhere."""
    config = AppConfig.from_env()
    reg = cached_registry(str(config.models_dir), config.include_reference)
    reg.refresh()  # cheap: notices models created after the app started
    try:
        return Engine(config, registry=reg, index=cached_index(str(config.index_dir), config))
    except FileNotFoundError as exc:
        return Engine(config, registry=reg, index=None, index_error=str(exc))


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


DECODING_TABS = ("Chat", "Comparar", "Siguiente token")
"""Where the retrieval and decoding controls act; Documentos and Modelos do not show them."""
_KEYS = ("variant", "cot", "k", "strategy", "num_beams", "length_penalty", "temperature", "top_k", "top_p",
         "seed", "repetition_penalty", "stop_on_repeat", "min_sentences", "max_new_tokens")


def sidebar(eng: Engine) -> Controls:
    # A widget not drawn in a run loses its value; these are hidden on some tabs and for some
    # strategies, so each run hands their values back to the session first (Streamlit's documented way).
    for key in _KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    tab = st.session_state.get("vista") or DECODING_TABS[0]
    with st.sidebar:
        st.header("Ajustes")
        names = eng.variants
        if tab not in DECODING_TABS:
            st.caption("Los ajustes del modelo y de la decodificación están en Chat, Comparar y Siguiente token.")
            return Controls(st.session_state.get("variant") if st.session_state.get("variant") in eng.choices
                            else eng.default_variant(), bool(st.session_state.get("cot", False)),
                            int(st.session_state.get("k", 5)), settings_from_state())
        if names:
            choices = eng.choices
            variant = st.selectbox("Modelo (Chat)", choices, index=choices.index(eng.default_variant()),
                                   key="variant", format_func=eng.label,
                                   help="Abre en lo que respondió bien más a menudo en la evaluación (pestaña "
                                        "Modelos); «Extractiva» responde con las frases de los pasajes, sin modelo.")
        else:
            variant = None
            st.caption("Sin modelos: respuestas extractivas (los pasajes recuperados).")
        cot = st.toggle("Cadena de pensamiento (CoT)", key="cot",
                        help="El modelo razona paso a paso antes de la respuesta final.")
        k = st.slider("Pasajes recuperados", 1, 10, 5, key="k",
                      help="Cuántos pasajes se recuperan; cada modelo recibe los que caben en su contexto "
                           "(cada respuesta dice cuántos recibió).")
        settings = decoding_controls()
    return Controls(variant, cot, k, settings)


def settings_from_state() -> DecodingSettings:
    d = DecodingSettings()
    values = {f: st.session_state.get(f, getattr(d, f)) for f in _KEYS[3:]}
    try:
        return DecodingSettings(**values)
    except SettingsError:
        return d


def decoding_controls() -> DecodingSettings:
    """Only the controls the chosen strategy uses are shown (greedy has no temperature to set)."""
    st.subheader("Decodificación")
    strategy = st.radio("Estrategia", STRATEGIES, key="strategy", format_func=STRATEGY_LABELS.get)
    active = DecodingSettings(strategy=strategy).active_fields()
    d = DecodingSettings()
    widgets = {
        "num_beams": lambda: st.slider("Haces (num_beams)", 2, 8, d.num_beams, key="num_beams"),
        "length_penalty": lambda: st.slider("Penalización de longitud", -2.0, 2.0, d.length_penalty, 0.1,
                                            key="length_penalty"),
        "temperature": lambda: st.slider("Temperatura", 0.05, 2.0, d.temperature, 0.05, key="temperature"),
        "top_k": lambda: st.slider("top-k (0 = sin filtro)", 0, 200, d.top_k, key="top_k"),
        "top_p": lambda: st.slider("top-p", 0.05, 1.0, d.top_p, 0.05, key="top_p"),
        "seed": lambda: st.number_input("Semilla", 0, 2**31 - 1, d.seed, key="seed"),
    }
    values = {name: (draw() if name in active else st.session_state.get(name, getattr(d, name)))
              for name, draw in widgets.items()}
    if not set(widgets) & set(active):
        st.caption("La búsqueda voraz elige siempre el token más probable: no tiene más parámetros.")
    values["repetition_penalty"] = st.slider("Penalización de repetición", 1.0, 2.0, d.repetition_penalty, 0.05,
                                             key="repetition_penalty")
    values["stop_on_repeat"] = st.slider("Cortar repeticiones (tokens; 0 = nunca)", 0, 32, d.stop_on_repeat,
                                         key="stop_on_repeat",
                                         help="Termina la respuesta cuando el modelo repite tantos tokens seguidos "
                                              "que ya había escrito (no cuenta citar los pasajes).")
    values["min_sentences"] = st.slider("Frases mínimas (0 = libre)", 0, 4, d.min_sentences, key="min_sentences",
                                        help="El modelo no puede terminar antes de escribir tantas frases, ni justo "
                                             "después del número de un punto de una lista; mientras tanto solo usa "
                                             "palabras de los documentos del curso y de su prompt.")
    values["max_new_tokens"] = st.slider("Máx. tokens nuevos", 8, 512, d.max_new_tokens, 8, key="max_new_tokens")
    try:
        return DecodingSettings(strategy=strategy, **values)
    except SettingsError as exc:
        st.error(str(exc))
        return DecodingSettings()


RECENT = "recent_answers"
RECENT_MAX = 20


def remember(label: str, answer) -> None:
    """Keep a generated answer of this session for the Siguiente token view (newest last, at most
    RECENT_MAX); the views that answer call it, the view that inspects reads `recent_answers`."""
    recent = st.session_state.setdefault(RECENT, {})
    recent.pop(label, None)
    recent[label] = answer
    while len(recent) > RECENT_MAX:
        recent.pop(next(iter(recent)))


def recent_answers() -> dict:
    return dict(st.session_state.get(RECENT, {}))
