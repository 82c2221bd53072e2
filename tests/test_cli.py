"""The exact command-line forms other tools call."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT, write

pytestmark = pytest.mark.slow


def run(*args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "index", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    docs = tmp / "docs"
    write(docs / "tf.md", "# Teacher forcing\n\nDurante el entrenamiento se alimenta la palabra correcta, no la predicha.")
    write(docs / "beam.md", "# Beam search\n\nConserva las k secuencias parciales más probables en cada paso.")
    write(docs / "roto.pdf", b"%PDF-1.4 broken")
    out = tmp / "index"
    proc = run("build", "--docs", str(docs), "--out", str(out))
    return docs, out, proc


def test_build_prints_a_summary_with_skipped_files(built):
    _, _, proc = built
    assert "2 files ->" in proc.stdout and "chunks" in proc.stdout and " s " in proc.stdout
    assert "roto.pdf: corrupt PDF" in proc.stdout
    assert "skipping roto.pdf" in proc.stderr


def test_query_json_is_an_array_best_first(built):
    _, out, _ = built
    rows = json.loads(run("query", "--index", str(out), "--k", "2", "--json", "¿qué es teacher forcing?").stdout)
    assert len(rows) == 2 and rows[0]["source"] == "tf.md"
    assert {"text", "source", "score", "heading_path"} <= set(rows[0])
    assert rows[0]["score"] >= rows[1]["score"]


def test_evaluate_prints_lexical_dense_fused(built, tmp_path):
    _, out, _ = built
    qa = write(tmp_path / "qa.jsonl", '{"question": "cómo elige secuencias beam", "evidence": ["secuencias parciales"]}\n')
    lines = run("evaluate", "--index", str(out), "--qa", str(qa)).stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["lexical", "dense", "fused"]
    assert all("recall@1=" in line and "recall@5=" in line and "MRR@10=" in line for line in lines)


def test_sweep_over_two_dev_sets_cross_validates(built, tmp_path):
    _, out, _ = built
    qa1 = write(tmp_path / "uno.jsonl", '{"question": "cómo elige secuencias beam", "evidence": ["secuencias parciales"]}\n')
    qa2 = write(tmp_path / "dos.jsonl", '{"question": "¿qué es teacher forcing?", "evidence": ["teacher forcing"]}\n')
    text = run("evaluate", "--sweep", "--top", "3", "--index", str(out), "--qa", str(qa1),
               "--index", str(out), "--qa", str(qa2)).stdout
    assert "2 dev set(s): uno, dos" in text
    assert "best on uno:" in text and "best on dos:" in text and "best on all (the default):" in text
    proc = run("evaluate", "--index", str(out), "--qa", str(qa1), "--qa", str(qa2), ok=False)
    assert proc.returncode == 2 and "one --qa per --index" in proc.stderr


def test_errors_name_the_problem_and_the_fix(tmp_path):
    proc = run("query", "--index", str(tmp_path / "none"), "--k", "3", "x", ok=False)
    assert proc.returncode == 2 and "python -m index build" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("build", "--docs", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), ok=False)
    assert proc.returncode == 2 and "missing" in proc.stderr
    bad = write(tmp_path / "qa.jsonl", "{not json}\n")
    proc = run("evaluate", "--index", str(tmp_path / "none"), "--qa", str(bad), ok=False)
    assert proc.returncode == 2
