"""Real-browser runs: `streamlit run` on 127.0.0.1, Chromium driven by Playwright: the Compare view with
the three variants, and the Chat of a fresh clone (no models yet: extractive answers, cited).

Skipped only when Debian's chromium or the playwright package is missing. The screenshots they leave in
artifacts/screenshots/ (compare.png, chat.png) are what a student would see.
"""

import contextlib
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from assistant.app_bench import CHROMIUM, CHROMIUM_ARGS, free_port, stop, wait_healthy

pytestmark = pytest.mark.slow
SCREENSHOT = ROOT / "artifacts" / "screenshots" / "compare.png"
CHAT_SCREENSHOT = ROOT / "artifacts" / "screenshots" / "chat.png"
VARIANT_LABELS = ["base (preentrenamiento continuo)", "tuned (LoRA)", "distilled (destilado)"]


@pytest.fixture
def server(tiny_models, course_index_dir, tmp_path):
    yield from serve(course_index_dir, tiny_models, tmp_path)


@pytest.fixture
def server_without_models(course_index_dir, tmp_path):
    """A fresh clone before `make models`: the Chat answers with the passages' own sentences, cited."""
    yield from serve(course_index_dir, tmp_path / "no-models", tmp_path)


def serve(course_index_dir, models, tmp_path):
    port = free_port()
    env = os.environ | {"COURSE_INDEX": str(course_index_dir), "COURSE_MODELS": str(models),
                        "COURSE_DOCS": str(tmp_path / "docs"), "COURSE_REFERENCE": "0", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def browser_page(url: str, width: int):
    """(page, playwright's expect) on a headless Chromium at `url`; skips without chromium or playwright."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1100})
            page.goto(url, timeout=60_000)
            yield page, sync_api.expect
            assert page.get_by_test_id("stException").count() == 0
        finally:
            browser.close()


def test_compare_in_a_real_browser(server):
    with browser_page(server, 1500) as (page, expect):
        # sampling gives the random test models visible text to show
        page.get_by_text("muestreo", exact=True).click()
        page.get_by_role("tab", name="Comparar").click()
        question = page.get_by_label("Pregunta")
        expect(question).to_be_visible(timeout=60_000)
        question.fill("¿Qué es teacher forcing?")
        page.get_by_role("button", name="Comparar").click()

        view = page.get_by_test_id("stTabs")
        done = view.get_by_text("tokens/s")  # one stats line per column, written when it finishes
        expect(done).to_have_count(len(VARIANT_LABELS), timeout=120_000)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        for label in VARIANT_LABELS:
            expect(view.get_by_role("heading", name=label)).to_be_visible()
        expect(view.get_by_text("Fuentes: [1]").first).to_be_visible()
        expect(view.get_by_text("Pasajes recuperados", exact=True)).to_be_visible()
        expect(view.get_by_text("El modelo recibió").first).to_be_visible()
        expect(view.get_by_text("teacher forcing").first).to_be_visible()
        assert view.get_by_text("respuesta vacía").count() == 0


def test_chat_in_a_real_browser(server_without_models):
    with browser_page(server_without_models, 1400) as (page, expect):
        box = page.get_by_placeholder("Pregunta sobre el curso, p. ej. ¿Qué es teacher forcing?")
        expect(box).to_be_visible(timeout=60_000)
        box.fill("¿Qué es teacher forcing?")
        box.press("Enter")
        chat = page.get_by_test_id("stChatMessage")
        expect(chat).to_have_count(2, timeout=60_000)
        expect(page.get_by_text("Sin modelo: respuesta extractiva").first).to_be_visible()
        answer = chat.nth(1)
        expect(answer.get_by_text("[1]").first).to_be_visible(timeout=60_000)
        expect(answer.get_by_text("citado, respaldado ✓").first).to_be_visible()
        expect(answer.get_by_text("teacher forcing", exact=False).first).to_be_visible()

        box.fill("¿Quién ganó el mundial de fútbol de 2010?")
        box.press("Enter")
        expect(chat).to_have_count(4, timeout=60_000)
        expect(chat.nth(3).get_by_text("El material del curso no trata esta pregunta")).to_be_visible(timeout=30_000)
        # the input stays below the newest exchange
        assert box.bounding_box()["y"] > chat.nth(3).bounding_box()["y"]
        CHAT_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(CHAT_SCREENSHOT), full_page=True)
        box.scroll_into_view_if_needed()  # the app scrolls inside its own container
        page.screenshot(path=str(CHAT_SCREENSHOT.with_name("chat-newest.png")))
