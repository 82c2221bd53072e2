"""`python -m assistant ask / evaluate` on the tiny checkpoints (in-process, same code as the module)."""

import json

import pytest
from conftest import DATA

from assistant.__main__ import main

pytestmark = pytest.mark.slow  # builds the course index (~15 s, once per session)


@pytest.fixture(autouse=True)
def no_reference(monkeypatch):
    monkeypatch.setenv("COURSE_REFERENCE", "0")


def test_ask_compare_prints_every_variant_with_sources(tiny_models, course_index_dir, capsys):
    rc = main(["ask", "--compare", "--max-new-tokens", "6", "--index", str(course_index_dir),
               "--models", str(tiny_models), "¿Qué es teacher forcing?"])
    out = capsys.readouterr().out
    assert rc == 0
    for name in ("base", "tuned", "distilled"):
        assert f"=== {name} ===" in out
    assert "fuentes:" in out and "tokens/s" in out


def test_ask_refuses_impossible_settings(capsys):
    assert main(["ask", "--strategy", "sampling", "--top-p", "2", "¿algo?"]) == 2
    assert "top_p=2.0" in capsys.readouterr().err


def test_ask_without_models_answers_from_the_passages(course_index_dir, tmp_path, capsys):
    rc = main(["ask", "--index", str(course_index_dir), "--models", str(tmp_path), "¿Qué es teacher forcing?"])
    captured = capsys.readouterr()
    assert rc == 0 and "[1]" in captured.out
    assert "python -m training.pipeline --profile cpu-demo" in captured.err


def test_evaluate_scores_every_variant_as_json(tiny_models, course_index_dir, capsys):
    rc = main(["evaluate", "--index", str(course_index_dir), "--models", str(tiny_models),
               "--qa", str(DATA / "qa_course.jsonl"), "--limit", "2", "--max-new-tokens", "4", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["questions"] == 2
    assert set(report["variants"]) == {"base", "tuned", "distilled", "extractivo"}
    assert report["variants"]["extractivo"]["valid_citations"] == 1.0
    assert {"token_f1", "rouge_l", "tokens_per_s"} <= set(report["variants"]["tuned"])
    margin = report["f1_margins"]["tuned - base"]  # paired: the same 2 questions for both
    assert margin["n"] == 2 and margin["ci"][0] <= margin["mean"] <= margin["ci"][1]
    assert set(report["f1_margins"]) == {"tuned - base", "distilled - tuned", "tuned - extractivo"}


def test_prepare_loads_every_variant_and_reports_a_broken_one(tiny_models, tmp_path, capsys):
    import shutil

    assert main(["prepare", "--models", str(tiny_models)]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: " in out for name in ("base", "tuned", "distilled"))
    broken = tmp_path / "models"
    shutil.copytree(tiny_models, broken)
    (broken / "distilled" / "model.safetensors").write_bytes(b"not a checkpoint")
    assert main(["prepare", "--models", str(broken)]) == 1
    assert "distilled" in capsys.readouterr().err
