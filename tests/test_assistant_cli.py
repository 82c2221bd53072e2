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
    assert "make models" in captured.err


def test_evaluate_scores_every_variant_as_json(tiny_models, course_index_dir, capsys):
    rc = main(["evaluate", "--index", str(course_index_dir), "--models", str(tiny_models),
               "--qa", str(DATA / "qa_course.jsonl"), "--limit", "2", "--max-new-tokens", "4", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["questions"] == 2
    assert set(report["variants"]) == {"base", "tuned", "distilled", "extractivo", "primeras-frases"}
    assert report["variants"]["extractivo"]["valid_citations"] == 1.0
    assert {"correct", "key_share", "token_f1", "rouge_l", "words", "tokens_per_s"} <= set(report["variants"]["tuned"])
    assert report["variants"]["tuned"]["keyed"] == 2


def test_evaluate_writes_every_answer_and_the_report_the_app_reads(tiny_models, course_index_dir, tmp_path,
                                                                   capsys):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    answers = tmp_path / "answers.jsonl"
    rc = main(["evaluate", "--index", str(course_index_dir), "--models", str(models), "--variants", "tuned,base",
               "--qa", str(DATA / "qa_course.jsonl"), "--limit", "2", "--max-new-tokens", "4",
               "--answers", str(answers), "--report", str(models / "report.json"), "--name", "course"])
    out = capsys.readouterr().out
    assert rc == 0 and "correctas tuned - base" in out and "mejor variante" in out
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    assert [r["variant"] for r in rows[:4]] == ["tuned", "base", "extractivo", "primeras-frases"]
    assert len(rows) == 8 and {"question", "answer", "citations", "correct", "key_share", "token_f1"} <= set(rows[0])
    extractive = rows[2]
    assert extractive["citations"] and extractive["words"] < 120
    report = json.loads((models / "report.json").read_text())
    assert set(report["answers"]["course"]["variants"]) == {"tuned", "base", "extractivo", "primeras-frases"}
    assert report["best_variant"] in ("tuned", "base", "extractivo")
    assert main(["evaluate", "--index", str(course_index_dir), "--models", str(models), "--variants", "nope",
                 "--qa", str(DATA / "qa_course.jsonl")]) == 2
    assert "nope" in capsys.readouterr().err

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
