"""Every loader on real files of its format, good and broken."""

import pytest
from conftest import COURSE, SHARED_DOCS, write
from helpers import make_docx, make_pdf, make_pptx

from index.loaders import LoadError, clean_markdown, html_to_text, load_document


def test_obsidian_markdown_is_reduced_to_visible_text(tmp_path):
    md = write(tmp_path / "nota.md", (
        "---\ntitle: Atención\ntags: [transformers]\n---\n"
        "# Atención\n\n![[diagrama.png]]\n\n"
        "Ver [[transformers#Autoatención|la autoatención]] y [[decodificacion]] o [[rnn#LSTM]].\n"
        "Un **concepto** clave y un [enlace](https://example.org).\n%% nota privada %%\n"
    ))
    doc = load_document(md, "nota.md")
    assert doc.title == "Atención"
    assert doc.metadata["tags"] == ["transformers"]
    assert "diagrama.png" not in doc.text and "![[" not in doc.text
    assert "Ver la autoatención y decodificacion o rnn > LSTM." in doc.text
    assert "Un concepto clave y un enlace." in doc.text
    assert "nota privada" not in doc.text and "---" not in doc.text


def test_markdown_keeps_formulas_and_underscores():
    text, _ = clean_markdown("La pérdida $L = -\\log p(w_t \\mid w_{<t})$ con snake_case.")
    assert "w_{<t}" in text and "snake_case" in text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252"])
def test_text_in_common_encodings_comes_out_right(tmp_path, encoding):
    text = "¿Qué es la atención? Señal, corazón y pingüino: ñandú."
    path = write(tmp_path / "a.txt", text.encode(encoding))
    assert load_document(path, "a.txt").text == text


def test_pdf_keeps_page_numbers(tmp_path):
    path = make_pdf(tmp_path / "apunte.pdf", ["Primera pagina sobre atencion.", "Segunda pagina sobre LoRA."])
    doc = load_document(path, "apunte.pdf")
    assert doc.location_kind == "page"
    assert [n for _, _, n in doc.locations] == [1, 2]
    assert doc.location_at(doc.text.index("LoRA")) == 2


def test_html_drops_navigation_and_keeps_headings(tmp_path):
    html = """<html><head><title>Guía</title><style>p{}</style></head><body>
    <header><a href="#">Ir al contenido principal</a></header><nav><ul><li>Mis cursos</li></ul></nav>
    <main><h2>Decodificación</h2><p>La búsqueda voraz elige el token más probable.</p>
    <ul><li>Temperatura</li><li>Top-p</li></ul></main>
    <footer>Usted se ha identificado como Ana</footer><script>var x = 1;</script></body></html>"""
    text, title = html_to_text(html)
    assert title == "Guía"
    assert "## Decodificación" in text and "- Top-p" in text
    for boilerplate in ("Ir al contenido", "Mis cursos", "identificado", "var x"):
        assert boilerplate not in text


def test_docx_headings_become_structure(tmp_path):
    doc = load_document(make_docx(tmp_path / "apunte.docx"), "apunte.docx")
    assert "# Decodificación" in doc.text and "## Muestreo" in doc.text
    assert "- La temperatura aplana" in doc.text


def test_pptx_keeps_slide_numbers(tmp_path):
    doc = load_document(make_pptx(tmp_path / "clase.pptx"), "clase.pptx")
    assert doc.location_kind == "slide"
    assert doc.location_at(doc.text.index("feed-forward")) == 2
    assert "## Atención" in doc.text


@pytest.mark.parametrize("name, content, reason", [
    ("vacio.md", b"", "empty file"),
    ("binario.txt", b"\x00\x01\x02\x03" * 100, "binary"),
    ("roto.pdf", b"%PDF-1.4\n garbage that is not a pdf", "corrupt PDF"),
    ("roto.docx", b"PK\x03\x04 not really a zip", "corrupt Word"),
    ("roto.pptx", b"not a presentation", "corrupt PowerPoint"),
    ("solo-espacios.txt", b"   \n\n  \n", "no text extracted"),
    ("imagen.png", b"\x89PNG", "unsupported file type"),
])
def test_bad_files_raise_a_clear_load_error(tmp_path, name, content, reason):
    path = write(tmp_path / name, content)
    with pytest.raises(LoadError, match=reason):
        load_document(path, name)


def test_password_protected_pdf_is_refused_clearly(tmp_path):
    path = make_pdf(tmp_path / "secreto.pdf", ["Contenido reservado."], password="clave")
    with pytest.raises(LoadError, match="password-protected"):
        load_document(path, "secreto.pdf")


def test_huge_file_is_refused_by_size(tmp_path):
    path = write(tmp_path / "enorme.txt", "palabra " * 2000)
    with pytest.raises(LoadError, match="too large"):
        load_document(path, "enorme.txt", max_bytes=1000)


def test_every_shipped_course_file_loads():
    files = [p for p in COURSE.rglob("*") if p.suffix in (".md", ".txt", ".html", ".pdf")]
    assert {p.suffix for p in files} == {".md", ".txt", ".html", ".pdf"}
    for path in files:
        doc = load_document(path, path.name)
        assert len(doc.text) > 500, path
    html = load_document(COURSE / "moodle" / "guia-decodificacion.html", "guia.html")
    assert "Ir al contenido principal" not in html.text


@pytest.mark.skipif(not SHARED_DOCS.is_dir(), reason="../shared/course-docs is not present")
def test_real_course_documents_load():
    for path in SHARED_DOCS.iterdir():
        doc = load_document(path, path.name)
        assert doc.text.strip(), path
        assert "![[" not in doc.text or path.suffix != ".md"
