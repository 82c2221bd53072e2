"""Training as a user runs it: real processes, SIGKILL and --resume, torchrun DDP, the whole pipeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from conftest import DATA, ROOT

from assistant.__main__ import main as assistant_main
from training.config import load_config

pytestmark = pytest.mark.slow
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def run_module(module: str, *args: str, check: bool = True, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          check=check, timeout=600, **popen)


def losses(path) -> list[float]:
    return [json.loads(x)["loss"] for x in path.read_text().splitlines()]


def weights(path) -> dict:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    run_module("training.tokenizer", "--profile", "tiny", "--out", str(out))
    return out


def _copy_tokenizer(src, dst):
    import shutil

    shutil.copytree(src / "tokenizer", dst / "tokenizer")


KILL_AFTER_STEP_10 = """
import os, signal, sys
from training import checkpoint, pretrain
write = checkpoint.MetricsLog.write
def write_then_die(self, record):
    write(self, record)
    if record["step"] == 10:
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.MetricsLog.write = write_then_die
sys.exit(pretrain.main(sys.argv[1:]))
"""


def test_sigkill_then_resume_matches_an_uninterrupted_run(tokenizer_dir, tmp_path):
    steps = ["pretrain.optim.steps=24", "pretrain.optim.save_every=4", "pretrain.optim.eval_every=100"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for d in (straight, killed):
        _copy_tokenizer(tokenizer_dir, d)
    run_module("training.pretrain", "--profile", "tiny", "--out", str(straight), *steps)

    # The child SIGKILLs itself right after logging step 10, two steps past its last checkpoint (step 8):
    # killed mid-run at the same point on any machine, with no polling race.
    killed_run = subprocess.run([sys.executable, "-c", KILL_AFTER_STEP_10, "--profile", "tiny", "--out", str(killed),
                                 *steps, "pretrain.optim.log_every=1"], cwd=ROOT, env=ENV, capture_output=True,
                                text=True, timeout=600)
    assert killed_run.returncode == -signal.SIGKILL, killed_run.stderr[-2000:]
    ckpt = killed / ".work" / "pretrain" / "checkpoint.pt"
    assert torch.load(ckpt, weights_only=False)["step"] == 8
    assert len(losses(killed / ".work" / "pretrain" / "metrics.jsonl")) == 10  # steps 9-10 logged, then lost
    assert not (killed / "base").exists()

    run_module("training.pretrain", "--profile", "tiny", "--out", str(killed), "--resume", *steps)
    a, b = weights(straight / "base"), weights(killed / "base")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert len(losses(killed / "base" / "metrics.jsonl")) == 24


def test_ddp_two_processes_match_one_process_on_the_same_global_batch(tokenizer_dir, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        _copy_tokenizer(tokenizer_dir, d)
    common = ["pretrain.optim.steps=4", "pretrain.optim.log_every=1"]
    run_module("training.pretrain", "--profile", "tiny", "--out", str(one), "pretrain.optim.batch_size=4", *common)
    # --standalone: a rendezvous on a free local port (a fixed one fails when another run holds it)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "-m", "training.pretrain", "--profile", "tiny", "--out", str(two), "pretrain.optim.batch_size=2",
                *common]
    result = subprocess.run(torchrun, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    l1, l2 = losses(one / "base" / "metrics.jsonl"), losses(two / "base" / "metrics.jsonl")
    assert len(l1) == len(l2) == 4
    assert l1 == pytest.approx(l2, rel=1e-4)
    a, b = weights(one / "base"), weights(two / "base")
    # The all-reduce sums gradients in another order. Adam divides by the gradient's own scale, so a
    # weight whose gradient is ~0 can move by up to one step (lr) on rounding alone: a handful of
    # weights may differ by less than lr, all the others must agree to 1e-5.
    lr = load_config(profile="tiny").pretrain.optim.lr
    for k in a:
        diff = (a[k] - b[k]).abs()
        assert diff.max().item() < lr, k
        assert (diff > 1e-5 + 1e-3 * b[k].abs()).float().mean().item() < 1e-3, k


def test_pipeline_end_to_end_on_the_tiny_profile(tmp_path, course_index_dir):
    out = tmp_path / "models"
    result = run_module("training.pipeline", "--profile", "tiny", "--out", str(out),
                        f"evaluate.index={course_index_dir}", check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for variant in ("base", "tuned", "distilled"):
        assert (out / variant / "config.json").exists() and (out / variant / "README.md").exists()
        assert json.loads((out / variant / "assistant.json").read_text())["variant"] == variant
    assert (out / "tuned" / "adapter" / "adapter_config.json").exists()
    report = json.loads((out / "report.json").read_text())
    assert set(report["variants"]) == {"untrained", "base", "tuned", "distilled"}
    for name in ("base", "tuned", "distilled"):
        row = report["variants"][name]
        assert row["perplexity"] > 0 and 0 <= row["copy_accuracy"] <= 1 and row["parameters"] > 0
    assert report["variants"]["distilled"]["parameters"] < report["variants"]["tuned"]["parameters"]
    card = (out / "tuned" / "README.md").read_text()
    assert "Evaluation" in card and "copy_accuracy" in card
    from assistant.model_info import spanish_card  # what the Modelos tab shows, from card.json

    spanish = spanish_card(out / "tuned", report["variants"]["tuned"])
    assert "perplejidad de las respuestas de validación" in spanish and "parámetros entrenables" in spanish
    assert isinstance(report["bars"]["base_ppl_below_untrained"], bool)
    # the answers are scored by the app's own path, into the same report
    rc = assistant_main(["evaluate", "--index", str(course_index_dir), "--models", str(out), "--qa",
                         str(DATA / "qa_course.jsonl"), "--limit", "3", "--max-new-tokens", "6", "--name", "course",
                         "--report", str(out / "report.json"), "--answers", str(out / "answers.jsonl")])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["variants"]["base"]["perplexity"] > 0  # what training.evaluate wrote is kept
    assert set(report["answers"]["course"]["variants"]) >= {"base", "tuned", "distilled", "extractivo"}
    assert report["best_variant"] in ("base", "tuned", "distilled", "extractivo")
    margin = report["answer_bars"]["correct: tuned - base"]
    assert margin["n"] == 3 and margin["ci"][0] <= margin["mean"] <= margin["ci"][1]
    answers = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 3 * len(report["answers"]["course"]["variants"])
    _models_tab_shows(out, course_index_dir)
    # --resume skips what is done
    again = run_module("training.pipeline", "--profile", "tiny", "--out", str(out), "--resume",
                       f"evaluate.index={course_index_dir}")
    assert "already done" in again.stderr
    # ... and runs again, from scratch, a stage made with other settings, and every stage after it
    base_weights = (out / "base" / "model.safetensors").stat().st_mtime_ns
    student_before = weights(out / "distilled")
    changed = run_module("training.pipeline", "--profile", "tiny", "--out", str(out), "--resume",
                         f"evaluate.index={course_index_dir}", "distill.alpha=0.2")
    assert "distill was made with other distill settings" in changed.stderr
    assert "resumed from" not in changed.stderr  # not from the final checkpoint of the run it replaces
    assert (out / "base" / "model.safetensors").stat().st_mtime_ns == base_weights
    saved = json.loads((out / "distilled" / "training_config.json").read_text())
    assert saved["config"]["distill"]["alpha"] == 0.2
    assert any(not torch.equal(t, weights(out / "distilled")[k]) for k, t in student_before.items())
    assert "evaluate took" in changed.stderr


def test_pipeline_from_a_pretrained_checkpoint_skips_the_tokenizer(tmp_path, course_index_dir):
    first = tmp_path / "first"
    run_module("training.tokenizer", "--profile", "tiny", "--out", str(first))
    run_module("training.pretrain", "--profile", "tiny", "--out", str(first))
    # the checkpoint's context, not the profile's model section, bounds the blocks (the gpu profile's 1,024)
    too_long = run_module("training.pretrain", "--profile", "tiny", "--out", str(tmp_path / "long"),
                          f"pretrain.init_from={first / 'base'}", "pretrain.block_size=1024", check=False)
    assert too_long.returncode != 0
    assert "pretrain.block_size=1024 exceeds the context of" in too_long.stderr and "(640 positions)" in too_long.stderr
    out = tmp_path / "models"
    result = run_module("training.pipeline", "--profile", "tiny", "--out", str(out),
                        f"pretrain.init_from={first / 'base'}", f"evaluate.index={course_index_dir}",
                        "pretrain.model.hidden_size=32", "pretrain.model.intermediate_size=64",
                        "distill.vocab_top=64", check=False)  # the cpu-gemma3 lineage: a pruned student
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tokenizer skipped" in result.stderr and not (out / "tokenizer").exists()
    card = json.loads((out / "distilled" / "card.json").read_text())
    assert card["summary"]["vocabulary"].endswith(" of 512 tokens")
    report = json.loads((out / "report.json").read_text())
    start = json.loads((first / "base" / "config.json").read_text())
    assert json.loads((out / "base" / "config.json").read_text())["hidden_size"] == start["hidden_size"] == 64
    # the untrained baseline has the checkpoint's architecture, not the profile's model section
    assert report["variants"]["untrained"]["parameters"] == report["variants"]["base"]["parameters"]


def test_cli_rejects_a_bad_config_before_any_work(tmp_path):
    result = run_module("training.pretrain", "--profile", "tiny", "--out", str(tmp_path),
                        "pretrain.model.num_heads=3", check=False)
    assert result.returncode != 0
    assert "num_heads=3 does not divide" in result.stderr
    assert not (tmp_path / ".work").exists()


def _models_tab_shows(models, index_dir) -> None:
    """The Modelos tab on what the pipeline and `assistant evaluate` really wrote (not a hand-made report)."""
    from streamlit.testing.v1 import AppTest

    from assistant.config import AppConfig

    env = AppConfig(index_dir=index_dir, models_dir=models, include_reference=False).to_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
        at.session_state["vista"] = "Modelos"
        at.run()
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert not at.exception
    answers, training = at.dataframe[0].value, at.dataframe[1].value
    assert {"tuned", "base", "distilled", "extractivo"} <= set(answers.index) and "correctas" in answers.columns
    assert {"base", "tuned", "distilled"} <= set(training.index) and "perplejidad" in training.columns
    cards = [e for e in at.expander if e.label.startswith("Ficha del modelo")]
    assert len(cards) == 3 and all("en inglés" not in c.value for e in cards for c in e.caption)
    # the loss of each variant; the validation perplexity as a chart, or one figure when evaluated once
    assert len(at.get("vega_lite_chart")) + len(at.metric) >= 6 and len(at.get("vega_lite_chart")) >= 3
    assert all("perplejidad" in m.label for m in at.metric)
