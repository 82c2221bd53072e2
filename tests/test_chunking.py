"""Structure-aware chunking: numbered questions, Obsidian headings, slides, pages, spans."""

import re
from pathlib import Path

import pytest

from index.chunking import chunk_document
from index.config import ChunkerConfig
from index.document import Document

QA = """1. ¿Qué es un embedding?

Un embedding es un vector denso que representa una palabra.

2. ¿Por qué importan los embeddings?

1. Representación densa:

Los vectores tienen dimensión fija.

2. Semántica:

Palabras parecidas quedan cerca.

12. ¿Qué es Self-Attention?

""" + " ".join(f"La autoatención compara cada token con todos los demás, frase número {i}." for i in range(40))


def chunks_of(text, cfg=None, **doc_kwargs):
    return chunk_document(Document(text=text, source="x.md", title="Repaso", **doc_kwargs), cfg or ChunkerConfig())


def test_numbered_question_starts_a_chunk_that_carries_it():
    chunks = chunks_of(QA)
    first = [c for c in chunks if "vector denso" in c.text]
    assert len(first) == 1 and first[0].heading_path == ["1. ¿Qué es un embedding?"]
    # inner numbered items ("1. Representación densa:") are not questions
    second = [c for c in chunks if c.heading_path == ["2. ¿Por qué importan los embeddings?"]]
    assert len(second) == 1 and "Palabras parecidas" in second[0].text


def test_numbered_instruction_continuing_the_questions_starts_a_chunk():
    text = ("7. ¿Para qué sirve un codificador?\n\nLee la frase completa y la resume en vectores.\n\n"
            "8. Enumera las partes de la entrada.\n\n1. Fichas:\n\nLas palabras ya segmentadas.\n\n"
            "10. Resume el objetivo de enmascarado.\n\nSe ocultan algunas fichas al azar.\n\n"
            "2. Reconstrucción:\n\nLa red adivina las fichas ocultas.\n")
    paths = [c.heading_path for c in chunks_of(text, ChunkerConfig(max_chars=400, overlap_chars=0, min_chars=0))]
    assert paths == [["7. ¿Para qué sirve un codificador?"], ["8. Enumera las partes de la entrada."],
                     ["10. Resume el objetivo de enmascarado."]]
    # without a question list before it, a numbered line is just text
    lone = chunks_of("Introducción al tema.\n\n5. Enumera las partes.\n\nTexto.\n", ChunkerConfig(min_chars=0))
    assert all(c.heading_path != ["5. Enumera las partes."] for c in lone)


def test_long_answer_splits_with_bounded_size_overlap_and_its_question():
    cfg = ChunkerConfig(max_chars=400, overlap_chars=100, min_chars=50)
    parts = [c for c in chunks_of(QA, cfg) if "Self-Attention" in " ".join(c.heading_path)]
    assert len(parts) > 3
    assert all(len(c.text) <= 400 for c in parts)
    assert all(c.heading_path == ["12. ¿Qué es Self-Attention?"] for c in parts)
    for a, b in zip(parts, parts[1:], strict=False):
        assert b.start < a.end, "consecutive pieces overlap"


def test_spans_point_back_into_the_document():
    doc = Document(text=QA, source="x.md", title="Repaso")
    for c in chunk_document(doc, ChunkerConfig(max_chars=300, overlap_chars=50, min_chars=50)):
        assert doc.text[c.start:c.end].strip() == c.text


def test_markdown_heading_path_nests():
    text = ("# Transformers\n\nIntro.\n\n## Atención\n\n" + "Texto sobre atención. " * 20 +
            "\n\n### Multi-cabeza\n\n" + "Varias cabezas en paralelo. " * 20 + "\n\n## Posiciones\n\n" + "Seno y coseno. " * 20)
    paths = {tuple(c.heading_path) for c in chunks_of(text)}
    assert ("Transformers", "Atención", "Multi-cabeza") in paths
    assert ("Transformers", "Posiciones") in paths


def test_a_heading_alone_is_never_a_chunk():
    definition = "La perplejidad es la exponencial de la entropía cruzada media por token. " * 6
    text = f"# Perplejidad en la práctica 2\n\n## Definición\n\n{definition}\n\n## Cálculo\n\n{definition}\n\n# Anexo\n"
    chunks = chunks_of(text)
    assert all(c.text.lstrip("# ").strip() not in ("Perplejidad en la práctica 2", "Anexo") for c in chunks)
    first = chunks[0]
    assert first.text.startswith("# Perplejidad en la práctica 2") and "exponencial" in first.text
    assert first.heading_path == ["Perplejidad en la práctica 2", "Definición"]
    assert chunks[-1].text.rstrip().endswith("# Anexo"), "a trailing heading joins the section before it"
    only_a_title = chunks_of("# Perplejidad\n")
    assert [c.text for c in only_a_title] == ["# Perplejidad"], "a note that is only a title is still indexed"


def test_slide_text_splits_on_breaks_and_titles():
    slides = "\n---\n".join(
        f"Diapositiva {name}\n\n- " + f"punto sobre {name}. " * 25 for name in ("Atención", "Consultas", "Valores"))
    chunks = chunks_of(slides)
    assert {c.heading_path[-1] for c in chunks} == {"Diapositiva Atención", "Diapositiva Consultas", "Diapositiva Valores"}


def test_a_slide_exported_without_blank_lines_is_named_by_its_title_in_the_sources():
    """Title right above its bullets (no blank line): the chunker keeps it as text, the sources list shows it;
    a PDF's wrapped prose line is no title."""
    from assistant.retrieval import Passage

    slides = "\n---\n".join(f"{name}\n- " + f"punto sobre {name.lower()}. " * 25
                             for name in ("Intuición de la atención", "Consultas, claves y valores"))
    chunks = [c for c in chunks_of(slides, location_kind="slide") if c.text.startswith(("Intuición", "Consultas"))]
    assert len(chunks) == 2 and all(not c.heading_path for c in chunks)
    shown = [Passage(1, c.text, "diapositivas/clase.txt", (), "", 1.0).where for c in chunks]
    assert shown == ["diapositivas/clase.txt · Intuición de la atención", "diapositivas/clase.txt · Consultas, claves y valores"]
    pdf = "La saturación hace que la\nprobabilidad de la clase correcta se acerque a uno."
    assert Passage(1, pdf, "apunte.pdf", (), "p. 2", 1.0).where == "apunte.pdf · p. 2"
    assert Passage(1, "Título\n- punto", "n.md", ("Tema", "Sección"), "", 1.0).where == "n.md · Tema › Sección"


def test_heading_inside_code_fence_is_not_structure():
    text = "Título de clase\n\nTexto.\n\n```\n# no es un título\ncódigo\n```\n\nOtra diapositiva\n\nMás texto."
    assert all("no es un título" not in " ".join(c.heading_path) for c in chunks_of(text))


def test_pages_are_kept_on_chunks():
    page1, page2 = "Atención. " * 30, "Destilación. " * 30
    text = page1 + "\n\n" + page2
    locations = [(0, len(page1), 1), (len(page1) + 2, len(text), 2)]
    chunks = chunks_of(text, ChunkerConfig(max_chars=400, overlap_chars=0, min_chars=0),
                       locations=locations, location_kind="page")
    assert {c.page for c in chunks if "Destilación" in c.text} == {2}
    assert {c.page for c in chunks if c.text.startswith("Atención")} == {1}


def test_a_copy_button_label_is_no_title_and_keeps_the_code_under_its_question():
    text = ("Introducción\n\n" + "Texto de la clase sobre atención. " * 10 + "\n\n"
            "5. ¿Cómo se ajusta un clasificador?\n\nSe parte de un modelo preentrenado.\n\npython\n\nCopy code\n\n"
            "import torch\n\nmodelo = torch.load(ruta)")
    chunks = chunks_of(text, ChunkerConfig(max_chars=400, overlap_chars=0, min_chars=0))
    code = next(c for c in chunks if "torch.load" in c.text)
    assert code.heading_path[-1] == "5. ¿Cómo se ajusta un clasificador?"
    assert "Copy code" not in code.text


REVIEW_SHEET = Path(__file__).resolve().parents[2] / "shared" / "course-docs" / "preguntas-de-repaso.txt"


@pytest.mark.skipif(not REVIEW_SHEET.is_file(), reason="the course documents are not here")
def test_the_review_sheets_code_blocks_stay_under_their_questions():
    from index.loaders import load_text

    chunks = chunk_document(load_text(REVIEW_SHEET, REVIEW_SHEET.name), ChunkerConfig())
    lines = REVIEW_SHEET.read_text(encoding="utf-8").split("\n")
    labels = {lines[i + 2].strip() for i in range(len(lines) - 2)  # «python» / blank / the button's label
              if lines[i].strip() in ("python", "rust") and not lines[i + 1].strip() and lines[i + 2].strip()}
    assert labels  # the sheet holds chat answers' code blocks
    assert not any(c.heading_path[-1] in labels for c in chunks)
    assert all(re.match(r"\d+\. ", c.heading_path[-1]) for c in chunks if "import " in c.text)
