"""Answer metrics and the paired bootstrap that decides whether a margin between two models is clear."""

from __future__ import annotations

import random

import pytest

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
    assert "F1 +0.233" in clear and "por encima de cero" in clear and "3 preguntas" in clear
    noisy = describe_margin({"mean": 0.01, "ci": [-0.02, 0.04], "n": 17})
    assert "puede ser ruido" in noisy


def test_bars_pool_the_held_out_and_dev_questions():
    from training.evaluate import bars

    def row(held, dev, tps=100.0):
        return {"answer_f1": sum(held) / len(held), "f1_per_question": held, "dev_f1_per_question": dev,
                "tokens_per_s": tps, "perplexity": 10.0}

    rows = {"untrained": {"perplexity": 100.0},
            "base": row([0.1, 0.2], [0.1, 0.1, 0.1, 0.1]),
            "tuned": row([0.2, 0.2], [0.1, 0.2, 0.3, 0.2]),
            "distilled": row([0.1, 0.1], [0.2, 0.2, 0.2, 0.2], tps=300.0)}
    out = bars(rows)
    unseen = out["tuned_vs_base_unseen_f1"]
    assert unseen["n"] == 6 and unseen["mean"] == pytest.approx(0.5 / 6, abs=1e-4)  # rounded in the report
    assert out["tuned_vs_base_f1"]["n"] == 2 and out["tuned_vs_base_dev_f1"]["n"] == 4
    assert out["distilled_f1_share"] == pytest.approx(0.5)  # held-out only: 0.1 / 0.2
    assert out["distilled_unseen_f1_share"] == pytest.approx(1.0 / 1.2, abs=1e-3)  # pooled means 1.0/6, 1.2/6
    assert out["distilled_speedup"] == 3.0 and out["base_ppl_below_untrained"] is True
    del rows["tuned"]["dev_f1_per_question"]  # no dev questions: no dev or pooled bars
    assert not any(k.startswith(("tuned_vs_base_dev", "tuned_vs_base_unseen", "distilled_unseen")) for k in bars(rows))
