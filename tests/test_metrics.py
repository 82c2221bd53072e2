"""Answer metrics and the paired bootstrap that decides whether a margin between two models is clear."""

from __future__ import annotations

import math
import random

import pytest
from conftest import DATA

from training.metrics import paired_difference, token_f1


def test_token_f1_ignores_accents_citations_and_articles():
    assert token_f1("Según [2]: La atención pondera los valores.", "atencion pondera valores") == 1.0
    assert token_f1("la atención", "el muestreo") == 0.0
    assert 0 < token_f1("la atención pondera", "la atención suma") < 1


def test_a_constant_margin_has_a_point_interval():
    diff = paired_difference([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
    assert diff.mean == pytest.approx(0.1)
    assert (diff.low, diff.high) == pytest.approx((0.1, 0.1))
    assert diff.clear


def test_a_consistent_margin_is_clear_and_noise_is_not():
    rng = random.Random(0)
    base = [rng.random() for _ in range(40)]
    better = [b + 0.1 + rng.gauss(0, 0.05) for b in base]
    diff = paired_difference(better, base)
    assert diff.clear and diff.low < diff.mean < diff.high
    assert diff.mean == pytest.approx(0.1, abs=0.03)
    # the same scores shuffled against each other: differences centred on zero, the interval spans it
    shuffled = rng.sample(base, len(base))
    noise = paired_difference(shuffled, base)
    assert noise.mean == pytest.approx(0.0, abs=1e-12)
    assert noise.low < 0 < noise.high and not noise.clear
    assert paired_difference(base, better).high < 0  # the other way round is clearly worse


def test_the_interval_is_reproducible_and_reported_as_a_dict():
    a, b = [0.2, 0.5, 0.1, 0.4, 0.3], [0.1, 0.2, 0.2, 0.1, 0.3]
    first, again = paired_difference(a, b), paired_difference(a, b)
    assert first == again
    d = first.to_dict()
    assert d["n"] == 5 and d["ci"][0] <= d["mean"] <= d["ci"][1]
    assert "IC 95%" in str(first)


def test_paired_difference_needs_the_same_questions():
    with pytest.raises(ValueError, match="same questions"):
        paired_difference([0.1, 0.2], [0.1])


def test_the_models_tab_sentence_says_whether_the_margin_is_clear():
    from assistant.model_info import describe_margin

    clear = describe_margin(paired_difference([0.3, 0.4, 0.5], [0.1, 0.2, 0.2]).to_dict())
    assert "+23.3%" in clear and "por encima de cero" in clear and "3 preguntas" in clear
    noisy = describe_margin({"mean": 0.01, "ci": [-0.02, 0.04], "n": 17})
    assert "puede ser ruido" in noisy


def test_key_facts_fold_case_and_accents_and_need_every_group():
    from training.metrics import key_scores, keys_found

    keys = [["teacher forcing"], ["palabra correcta", "token correcto"], ["1997"]]
    assert keys_found("Con TEACHER  forcing se da la PALABRA CORRECTA (1997).", keys) == [True, True, True]
    assert key_scores("Teacher forcing da el token correcto en 1997 [1]", keys) == (1.0, 1.0)
    assert key_scores("Teacher forcing da el token correcto", keys) == (0.0, pytest.approx(2 / 3))
    assert key_scores("La atención en 1997", [["atencion"], ["1997"]]) == (1.0, 1.0)  # folded both ways
    assert key_scores("tener", [[" ner", "(ner"]]) == (0.0, 0.0)  # edge spaces keep a word whole
    assert key_scores("El NER etiqueta", [[" ner"]]) == (1.0, 1.0)  # the answer is padded with spaces
    correct, share = key_scores("cualquier cosa", [])
    assert math.isnan(correct) and math.isnan(share)  # no keys: not judged


def test_answer_bars_pool_every_question_set(tmp_path):
    from tiny_models import _answer_scores

    from assistant.evaluation import update_report

    path = tmp_path / "report.json"
    path.write_text('{"variants": {"base": {"perplexity": 9.0}}}')
    update_report(path, "course", _answer_scores(), {"questions": 3})
    report = update_report(path, "docs", _answer_scores(), {"questions": 3})
    assert report["variants"]["base"]["perplexity"] == 9.0  # training.evaluate's part is kept
    assert report["answers_pooled"]["sets"] == ["course", "docs"]
    rows, bars = report["answers_pooled"]["variants"], report["answer_bars"]
    assert rows["tuned"]["correct"] == 1.0 and rows["base"]["correct"] == pytest.approx(1 / 3, abs=1e-4)
    assert rows["tuned"]["n"] == 6
    assert bars["correct: tuned - base"]["n"] == 6 and bars["correct: tuned - base"]["mean"] == pytest.approx(2 / 3,
                                                                                                             abs=1e-3)
    assert bars["tuned_correct_at_least_2x_lead"] and bars["tuned_correct_above_extractive"]
    assert bars["distilled_correct_share"] == pytest.approx(2 / 3, abs=1e-3) and not bars["distilled_keeps_85pct"]
    assert bars["distilled_speedup"] == 2.0 and report["best_variant"] == "tuned"


def test_question_file_keys_are_checked(tmp_path):
    from training.metrics import read_qa

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "¿Qué es LoRA?", "answer": "Un adaptador.", "keys": ["lora"]}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: \"keys\" must be a list of non-empty lists"):
        read_qa(bad)
    for name in ("qa_course.jsonl", "qa_course_docs.jsonl"):  # the dev sets: every question has its keys
        rows = read_qa(DATA / name)
        assert all(r["keys"] for r in rows)


def test_jsonl_files_are_read_one_way(tmp_path):
    """Question sets and instruction data refuse a broken line by file and line; a metrics log killed
    mid-write keeps its whole lines."""
    from assistant.model_info import read_metrics
    from index.evaluate import load_qa
    from training.metrics import read_qa

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "¿Qué es BPE?", "answer": "Un tokenizador.", "evidence": ["bpe"]}\n\n'
                      '{"question": "¿Y LoRA?", "ans\n', encoding="utf-8")
    for read in (read_qa, load_qa):
        with pytest.raises(ValueError, match=r"broken\.jsonl:3: not JSON"):
            read(broken)
    not_object = tmp_path / "list.jsonl"
    not_object.write_text('["¿Qué es BPE?"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"list\.jsonl:1: expected a JSON object, got list"):
        load_qa(not_object)
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "loss": 2.5}\n[1]\n{"step": 2, "lo', encoding="utf-8")
    assert read_metrics(log) == [{"step": 1, "loss": 2.5}]
    assert read_metrics(tmp_path / "absent.jsonl") == []


def test_the_extractive_answer_is_chosen_when_no_model_beats_it_and_pasted_openings_never():
    from assistant.evaluation import best_variant

    row = lambda correct, share=0.5: {"correct": correct, "key_share": share, "token_f1": 0.2}  # noqa: E731
    assert best_variant({"tuned": row(0.31), "extractivo": row(0.62), "primeras-frases": row(0.69)}) == "extractivo"
    assert best_variant({"tuned": row(0.7), "extractivo": row(0.62), "primeras-frases": row(0.9)}) == "tuned"
    assert best_variant({"extractivo": row(0.62), "primeras-frases": row(0.69)}) is None  # no model was scored
