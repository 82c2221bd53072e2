"""People-written training questions (`training.written`): checked against the corpus, never holding a development
question's evidence, and turned into examples whose prompt always shows the sentence the target quotes."""

from __future__ import annotations

import json

import pytest
from conftest import COURSE, DATA, ROOT

from index.jsonl import iter_jsonl
from training.corpus import corpus_chunks, load_corpus
from training.data import make_examples, split_pairs
from training.prompts import focus
from training.written import WrittenError, dev_evidence, load_written, locate, problems, written_pairs

SHIPPED = ROOT / "training" / "questions" / "course.jsonl"


@pytest.fixture(scope="module")
def chunks():
    return corpus_chunks(load_corpus(COURSE))


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_shipped_questions_quote_the_course_and_leave_the_dev_questions_unseen(chunks):
    rows = load_written(SHIPPED)
    assert len(rows) >= 200
    evidence = dev_evidence([DATA / "qa_course.jsonl"])
    assert problems(rows, chunks, evidence, name=str(SHIPPED)) == []
    dev_questions = {row["question"].lower() for _, row in iter_jsonl(DATA / "qa_course.jsonl")}
    assert not dev_questions & {r.question.lower() for r in rows}


def test_an_answer_is_found_across_line_breaks_and_emphasis_and_returned_as_the_chunk_writes_it(chunks):
    target = next(c for c in chunks if "`" in c.text or "\n" in c.text.strip())
    words = " ".join(target.text.split()[-12:])  # the chunk's end, likely across a line break
    found = locate(words.replace("`", ""), target.source, chunks)
    assert found is not None
    chunk_id, span = found
    assert chunks[chunk_id].source == target.source
    assert " ".join(span.split()) in " ".join(chunks[chunk_id].text.split())


def test_the_checker_names_every_broken_line(tmp_path, chunks):
    c = next(c for c in chunks if c.source == "notas/destilacion.md" and len(c.text) > 400)
    sentence = " ".join(c.text.split()[-20:])
    evidence = dev_evidence([DATA / "qa_course.jsonl"])
    dev_sentence = next(e for e in evidence if len(e) > 30 and locate(e, "notas/destilacion.md", chunks))
    path = _write(tmp_path / "w.jsonl", [
        {"question": "¿Una pregunta?", "answer": sentence, "source": "notas/destilacion.md"},
        {"question": "¿Una pregunta?", "answer": sentence, "source": "notas/destilacion.md"},
        {"question": "¿Otra?", "answer": "Esta frase no está en el curso.", "source": "notas/destilacion.md"},
        {"question": "¿Y esta?", "answer": sentence, "source": "notas/no-existe.md"},
        {"question": "¿De la evaluación?", "answer": dev_sentence, "source": "notas/destilacion.md"},
        {"question": "sin signo", "answer": sentence, "source": "notas/destilacion.md"},
    ])
    found = problems(load_written(path), chunks, evidence, name="w.jsonl")
    text = "\n".join(found)
    assert "w.jsonl:2: same question as line 1" in text
    assert "w.jsonl:3: answer not found" in text
    assert "w.jsonl:4: source 'notas/no-existe.md' is not a file of the corpus" in text
    assert "w.jsonl:5: answer holds the evidence of a development question" in text
    assert "w.jsonl:6: the question should end" in text
    assert not any(line.startswith("w.jsonl:1:") for line in found)


def test_a_missing_file_or_field_is_a_clear_error(tmp_path):
    with pytest.raises(WrittenError, match="nope.jsonl not found"):
        load_written(tmp_path / "nope.jsonl")
    path = _write(tmp_path / "w.jsonl", [{"question": "¿Qué?", "source": "x.md"}])
    with pytest.raises(WrittenError, match="w.jsonl:1: missing answer"):
        load_written(path)


def test_a_changed_course_file_is_an_error_naming_the_line_and_another_corpus_skips(tmp_path, chunks):
    path = _write(tmp_path / "w.jsonl", [
        {"question": "¿Qué?", "answer": "Una frase que el curso ya no tiene.", "source": "notas/destilacion.md"},
    ])
    with pytest.raises(WrittenError, match=r"w.jsonl:1: answer not found"):
        written_pairs(load_written(path), chunks, name=str(path))
    other = [c for c in chunks if c.source != "notas/destilacion.md"]
    assert written_pairs(load_written(path), other) == []


def test_written_examples_show_the_answer_and_quote_it_even_where_focus_would_not(chunks):
    pairs = written_pairs(load_written(SHIPPED), chunks)
    assert pairs and all(p.origin == "written" for p in pairs)
    examples = make_examples(pairs, chunks, num_passages=3, max_passage_chars=300, seed=0, cot_share=0.0,
                             unanswerable_share=0.0, variants=1)
    assert len(examples) >= 0.8 * len(pairs)  # only answers longer than a window are left out
    hidden = 0
    by_question = {p.question: p for p in pairs}
    for ex in examples:
        pair = by_question[ex.question]
        quoted = ex.answer.split(": ", 1)[1]  # «Según [n]: …», the default citation style
        assert quoted == pair.answer
        shown = ex.messages[1]["content"]
        assert " ".join(quoted.split()) in " ".join(shown.split())
        hidden += " ".join(pair.answer.split()) not in " ".join(
            focus(chunks[pair.chunk_id].text, pair.question, 300).split())
    assert hidden > 0  # some answers are not where the question's words point: those windows were moved


def test_written_pairs_are_split_like_the_others(chunks):
    train, held = split_pairs(written_pairs(load_written(SHIPPED), chunks), 0.15, seed=0)
    assert held and train and not {p.question for p in held} & {p.question for p in train}


def test_the_citation_can_follow_the_quoted_words(chunks):
    pairs = written_pairs(load_written(SHIPPED), chunks)[:20]
    lead = make_examples(pairs, chunks, 2, 450, seed=0, cot_share=0.0, unanswerable_share=0.0)
    end = make_examples(pairs, chunks, 2, 450, seed=0, cot_share=0.0, unanswerable_share=0.0, citation="end")
    for a, b in zip(lead, end, strict=True):
        number = a.answer.split("]", 1)[0].removeprefix("Según [")
        assert b.answer == f"{a.answer.split(': ', 1)[1]} [{number}]"
        assert a.messages == b.messages  # only the answer's form changes
