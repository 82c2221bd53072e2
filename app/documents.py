"""Documents: what is indexed, uploading new course files, re-indexing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from assistant.documents import MAX_UPLOAD_MB, UploadError, save_upload, summarize_index
from assistant.engine import INDEX_COMMAND, Engine
from index.config import SUPPORTED_SUFFIXES

from .state import cached_index


def page(eng: Engine, docs_dir: Path) -> None:
    indexed(eng)
    st.divider()
    upload(docs_dir)
    st.divider()
    reindex(eng, docs_dir)


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


def upload(docs_dir: Path) -> None:
    st.subheader("Añadir documentos")
    files = st.file_uploader(f"Archivos del curso (máx. {MAX_UPLOAD_MB} MB cada uno)", accept_multiple_files=True,
                             type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], key="uploads")
    if files and st.button("Guardar en la carpeta del curso", key="save_uploads"):
        for f in files:
            try:
                path = save_upload(docs_dir, f.name, f.getvalue())
                st.success(f"Guardado `{path}`. Re-indexa para poder preguntar sobre él.")
            except (UploadError, OSError) as exc:
                st.error(str(exc))


def reindex(eng: Engine, docs_dir: Path) -> None:
    st.subheader("Re-indexar")
    st.caption(f"Carpeta `{docs_dir}` → índice `{eng.index_dir}`. Solo se vuelven a procesar los archivos "
               f"que cambiaron. Desde la terminal: `{INDEX_COMMAND.format(out=eng.index_dir)}`.")
    if not st.button("Re-indexar ahora", key="reindex"):
        return
    from index import build_index

    bar = st.progress(0.0, text="Leyendo la carpeta…")

    def on_file(done: int, total: int, source: str) -> None:
        bar.progress(0.9 * done / max(1, total), text=f"Archivo {done + 1} de {total}: {source}")

    try:
        report = build_index(docs_dir, eng.index_dir, progress=False, on_file=on_file)
    except (OSError, RuntimeError, ValueError) as exc:
        bar.empty()
        st.error(f"No se pudo re-indexar: {exc}")
        return
    bar.progress(0.9, text="Cargando el índice nuevo…")
    cached_index.clear()
    bar.progress(1.0, text="Listo.")
    st.success(f"{report.files} archivos, {report.chunks} fragmentos ({report.embedded_files} procesados, "
               f"{report.reused_files} reutilizados) en {report.seconds:.1f} s.")
    for source, reason in report.skipped:
        st.warning(f"Omitido {source}: {reason}")
