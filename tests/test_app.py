"""The search page, headless (streamlit.testing.v1.AppTest)."""

import pytest
from conftest import COURSE, ROOT

from index import build_index

pytestmark = pytest.mark.slow


def app(monkeypatch, index_dir):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr("assistant.retrieval.DEFAULT_INDEX", index_dir)
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)


def test_missing_index_says_how_to_build_it(monkeypatch, tmp_path):
    at = app(monkeypatch, tmp_path / "none").run()
    assert not at.exception
    assert "python -m index build" in at.info[0].value


def test_question_shows_cited_passages(monkeypatch, tmp_path):
    build_index(COURSE, tmp_path / "idx", progress=False)
    at = app(monkeypatch, tmp_path / "idx").run()
    at.sidebar.slider[0].set_value(3)
    at.text_input[0].input("¿qué es la búsqueda en haz?").run()
    assert not at.exception
    assert len(at.expander) == 3
    assert at.expander[0].label.startswith("[1] ")
