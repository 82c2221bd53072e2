"""Documents: what is indexed, uploading new course files, re-indexing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from assistant.config import AppConfig
from assistant.documents import (
    MAX_UPLOAD_MB,
    SUPPORTED_SUFFIXES,
    UploadError,
    delete_upload,
    reindex,
    save_upload,
    spanish_reason,
    summarize_index,
    uploads,
)
from assistant.engine import Engine

from .state import cached_index

DONE = "documentos_hecho"
"""A message to show after the rerun that reloads the page (a re-index, a deletion)."""


def page(eng: Engine) -> None:
    for kind, text in st.session_state.pop(DONE, []):
        (st.success if kind == "ok" else st.warning)(text)
    indexed(eng)
    st.divider()
    upload(eng.config.uploads_dir)
    st.divider()
    reindex_section(eng.config)


def indexed(eng: Engine) -> None:
    if eng.index is None:
        st.info(eng.index_error)
        return
    s = summarize_index(eng.index.manifest)
    st.markdown(f"**{len(s.files)} archivos · {s.chunks} fragmentos** · construido {s.built_at} · "
                f"embedder `{s.embedder}` · carpeta `{s.docs_dir}`")
    st.dataframe(pd.DataFrame(s.files, columns=["archivo", "fragmentos"]), hide_index=True)
    if s.skipped:
        st.markdown(f"**{len(s.skipped)} archivo(s) omitido(s)**")
        st.dataframe(pd.DataFrame(s.skipped, columns=["archivo", "motivo"]), hide_index=True)


def upload(folder) -> None:
    st.subheader("Añadir documentos")
    kinds = ", ".join(s.lstrip(".") for s in SUPPORTED_SUFFIXES)
    # No `type=` filter: Streamlit's own refusal is in English; save_upload says it in Spanish.
    files = st.file_uploader(f"Archivos del curso ({kinds}; máx. {MAX_UPLOAD_MB} MB cada uno)",
                             accept_multiple_files=True, key="uploads")
    st.caption(f"Se guardan en `{folder}`, aparte de la carpeta del curso, y se indexan como `subidos/…`.")
    if files and st.button("Guardar", key="save_uploads"):
        for f in files:
            try:
                st.success(save_upload(folder, f.name, f.getvalue()).message())
            except (UploadError, OSError) as exc:
                st.error(str(exc))
    mine = uploads(folder)
    if mine:
        st.markdown(f"**Subidos desde la app** (`{folder}`):")
        for path in mine:
            name, button = st.columns([5, 1])
            name.markdown(f"`{path.name}` · {path.stat().st_size / 1e3:.1f} kB")
            if button.button("Borrar", key=f"borrar-{path.name}"):
                try:
                    delete_upload(folder, path.name)
                    st.session_state[DONE] = [("ok", f"Borrado `{path.name}`. Re-indexa para quitarlo del índice.")]
                except (UploadError, OSError) as exc:
                    st.session_state[DONE] = [("warn", str(exc))]
                st.rerun()


def reindex_section(config: AppConfig) -> None:
    st.subheader("Re-indexar")
    st.caption(f"Carpetas `{config.docs_dir}` y `{config.uploads_dir}` → índice `{config.index_dir}`. Solo se "
               f"vuelven a procesar los archivos que cambiaron. Desde la terminal: `{config.index_command()}`.")
    if not st.button("Re-indexar ahora", key="reindex"):
        return
    bar = st.progress(0.0, text="Leyendo la carpeta…")

    def on_file(done: int, total: int, source: str) -> None:
        bar.progress(0.9 * done / max(1, total), text=f"Archivo {done + 1} de {total}: {source}")

    try:
        report = reindex(config, on_file=on_file)
    except (OSError, RuntimeError, ValueError) as exc:
        bar.empty()
        st.error(f"No se pudo re-indexar: {exc}")
        return
    bar.progress(0.9, text="Cargando el índice nuevo…")
    cached_index.clear()
    bar.progress(1.0, text="Listo.")
    # Rerun so the header and the table above show the new index, with the outcome kept for it.
    st.session_state[DONE] = [("ok", f"Re-indexado: {report.files} archivos, {report.chunks} fragmentos "
                                     f"({report.embedded_files} procesados, {report.reused_files} reutilizados) "
                                     f"en {report.seconds:.1f} s.")]
    st.session_state[DONE] += [("warn", f"Omitido {source}: {spanish_reason(reason)}") for source, reason in report.skipped]
    st.rerun()
