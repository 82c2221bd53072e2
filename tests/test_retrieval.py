"""Retrieval quality floors on the two dev sets (pinned below the measured values in README)."""

import pytest
from conftest import DATA

from index.evaluate import evaluate, load_qa

pytestmark = pytest.mark.slow


def scores(index, qa_file):
    return {s.name: s for s in evaluate(index, load_qa(DATA / qa_file))}


def test_sample_corpus_recall_floor(course_index):
    s = scores(course_index, "qa_course.jsonl")
    assert s["fused"].recall_at_5 >= 0.91 and s["fused"].recall_at_1 >= 0.65
    assert s["fused"].mrr_at_10 >= s["lexical"].mrr_at_10
    assert s["fused"].recall_at_5 > s["dense"].recall_at_5


def test_real_course_documents_recall_floor(shared_docs_index):
    s = scores(shared_docs_index, "qa_course_docs.jsonl")
    assert s["fused"].recall_at_5 >= 0.93 and s["fused"].recall_at_1 >= 0.75
    assert s["fused"].mrr_at_10 >= s["lexical"].mrr_at_10
    assert s["fused"].recall_at_5 > s["dense"].recall_at_5


def test_accentless_misspelt_question_still_finds_the_passage(course_index):
    hits = course_index.search("q es la destilacion de conocimiento", k=3)
    assert any("destil" in h.chunk.source or "destil" in h.chunk.text.lower() for h in hits)


def test_numbered_question_in_the_review_sheet_is_its_own_chunk(course_index):
    review = [c for c in course_index.chunks if c.source == "preguntas-de-repaso.md"]
    assert sum(1 for c in review if c.heading_path and c.heading_path[-1][:3].rstrip(". ").isdigit()) >= 20
