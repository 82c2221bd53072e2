"""Real-browser runs: `streamlit run` on 127.0.0.1, Chromium driven by Playwright: the Compare view with
the three variants, the Chat with a model and chain of thought, the Chat of a fresh clone (no models yet:
extractive answers, cited), and five students asking at once.

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
from assistant.config import AppConfig

pytestmark = pytest.mark.slow
SCREENSHOT = ROOT / "artifacts" / "screenshots" / "compare.png"
CHAT_SCREENSHOT = ROOT / "artifacts" / "screenshots" / "chat.png"
VARIANT_LABELS = ["base (preentrenamiento continuo)", "tuned (LoRA)", "distilled (destilado)"]


@pytest.fixture(scope="module")
def server(tiny_models, course_index_dir, tmp_path_factory):
    """One served app for the tests with models: each test opens its own browser sessions on it."""
    yield from serve(course_index_dir, tiny_models, tmp_path_factory.mktemp("served"))


@pytest.fixture
def server_without_models(course_index_dir, tmp_path):
    """A fresh clone before `make models`: the Chat answers with the passages' own sentences, cited."""
    yield from serve(course_index_dir, tmp_path / "no-models", tmp_path)


def serve(course_index_dir, models, tmp_path):
    port = free_port()
    config = AppConfig(index_dir=course_index_dir, models_dir=models, docs_dir=tmp_path / "docs",
                       uploads_dir=tmp_path / "uploads", include_reference=False)
    env = os.environ | config.to_env() | {"HF_HUB_OFFLINE": "1"}
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
def chromium():
    """(browser, playwright's expect); skips without chromium or playwright."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser, sync_api.expect
        finally:
            browser.close()


def open_page(browser, url: str, width: int = 1400):
    """A new session (its own browser context, as a second student's browser would be)."""
    page = browser.new_context(viewport={"width": width, "height": 1100}).new_page()
    page.goto(url, timeout=60_000)
    return page


@contextlib.contextmanager
def browser_page(url: str, width: int):
    """(page, playwright's expect) on a headless Chromium at `url`."""
    with chromium() as (browser, expect):
        page = open_page(browser, url, width)
        yield page, expect
        assert page.get_by_test_id("stException").count() == 0


CHAT_BOX = "Pregunta sobre el curso, p. ej. ¿Qué es teacher forcing?"


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


def test_chat_with_a_model_and_chain_of_thought_in_a_real_browser(server):
    with browser_page(server, 1400) as (page, expect):
        box = page.get_by_placeholder(CHAT_BOX)
        expect(box).to_be_visible(timeout=60_000)
        page.get_by_text("Cadena de pensamiento (CoT)").click()
        box.fill("¿Qué es teacher forcing?")
        box.press("Enter")
        chat = page.get_by_test_id("stChatMessage")
        expect(chat).to_have_count(2, timeout=60_000)
        answer = chat.nth(1)
        expect(answer.get_by_text("tokens/s")).to_be_visible(timeout=120_000)  # written when the stream ends
        expect(answer.get_by_text("Modelo: tuned (LoRA)")).to_be_visible()
        expect(answer.get_by_text("Razonamiento (cadena de pensamiento)")).to_be_visible()
        expect(answer.get_by_text("El modelo recibió")).to_be_visible()
        expect(answer.get_by_test_id("stExpander").filter(has_text="[1]").first).to_be_visible()
        page.screenshot(path=str(CHAT_SCREENSHOT.with_name("chat-cot.png")), full_page=True)


def ask_with_seed(page, expect, seed: int, question: str) -> None:
    page.get_by_text("muestreo", exact=True).click()
    seed_box = page.get_by_label("Semilla")
    expect(seed_box).to_be_visible(timeout=60_000)
    seed_box.fill(str(seed))
    seed_box.press("Enter")
    page.wait_for_timeout(500)  # the rerun that stores the seed
    box = page.get_by_placeholder(CHAT_BOX)
    box.fill(question)
    box.press("Enter")


def chat_texts(page) -> list[str]:
    return [m.inner_text() for m in page.get_by_test_id("stChatMessage").all()]


def settled_chat_texts(page, tries: int = 20) -> list[str]:
    """The chat's texts once two reads 500 ms apart agree: an answer holding «$…$» is typeset by KaTeX after
    its stats line shows, so a read right then can find its body still empty."""
    texts = chat_texts(page)
    for _ in range(tries):
        page.wait_for_timeout(500)
        again, texts = texts, chat_texts(page)
        if again == texts:
            break
    return texts


def test_five_students_asking_at_once_all_finish_apart_and_reproduce_their_seeds(server):
    """Sampling, a seed per student, all five questions in flight together on the one server: each gets
    an answer, sees only its own exchange, and asking again with the same seed gives the same text."""
    questions = ["¿Qué es teacher forcing?", "¿Qué mide la perplejidad?", "¿Qué hace LoRA?",
                 "¿Para qué sirve la atención?", "¿Qué es la destilación?"]
    with chromium() as (browser, expect):
        pages = [open_page(browser, server) for _ in questions]
        for page in pages:
            expect(page.get_by_placeholder(CHAT_BOX)).to_be_visible(timeout=90_000)
        for seed, (page, question) in enumerate(zip(pages, questions, strict=True)):
            ask_with_seed(page, expect, seed, question)
        first = []
        for page in pages:
            expect(page.get_by_test_id("stChatMessage").nth(1).get_by_text("tokens/s")).to_be_visible(timeout=180_000)
            first.append(settled_chat_texts(page))
        for page, question, texts in zip(pages, questions, first, strict=True):
            assert len(texts) == 2 and question in texts[0], "each session keeps its own history"
            assert all(q not in "".join(texts) for q in questions if q != question)
            assert page.get_by_test_id("stException").count() == 0
        for page, question in zip(pages, questions, strict=True):  # the same seeds again, all at once
            box = page.get_by_placeholder(CHAT_BOX)
            box.fill(question)
            box.press("Enter")
        for page, texts in zip(pages, first, strict=True):
            expect(page.get_by_test_id("stChatMessage").nth(3).get_by_text("tokens/s")).to_be_visible(timeout=180_000)
            again = settled_chat_texts(page)
            assert _answer_words(again[3]) == _answer_words(texts[1]), "a seed reproduces its answer"


def _answer_words(message: str) -> str:
    """The answer's text: what is above its stats line (times differ between two runs, and the sources
    below the line may still be arriving when it appears)."""
    lines = message.splitlines()
    return "\n".join(lines[: next(i for i, line in enumerate(lines) if "tokens/s" in line)])
