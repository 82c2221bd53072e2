"""The served app measured from a real browser (part of `python -m assistant bench`).

- idle CPU: `streamlit run` on 127.0.0.1 with one Chromium page open on it and nothing asked, as a
  share of one core, from the server process's own CPU time (/proc) over a quiet window;
- in-app tokens/s: a Chat question typed in that page, its stats line read back, against the same
  question, variant and settings answered in this process (the command-line path), so a server that
  generates slower than the command line (a busy file watcher did: 2.5-3.5x) shows as a ratio. The two
  are interleaved (app, command line, app, ...) with the server idle while this process answers, so a
  machine whose speed drifts during the run (single answers varied by ±15 % here) drifts for both.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package; without them the rows say so.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .config import AppConfig
from .settings import DecodingSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
ROOT = Path(__file__).resolve().parents[1]
_TPS = re.compile(r"([\d.]+) tokens/s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (Linux /proc/stat, every core)."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"streamlit salió con {proc.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit no respondió en {url} en {timeout} s")


def measure(config: AppConfig, question: str, idle_s: float = 30.0, cli=None, rounds: int = 10,
            variant_label: str | None = None) -> dict:
    """{'idle_cpu_share', 'app_tokens_per_s', 'cli_tokens_per_s'} (lists; the first round, which pays
    one-off costs, left out) and 'note'. `cli()`, when given, answers the same question in this process
    and returns its tokens/s; it runs after each answer in the browser. `variant_label` is the model the
    Chat is set to first (as a student would pick it in the sidebar) when it does not open on it."""
    if not CHROMIUM.exists():
        return {"note": f"{CHROMIUM} no está instalado (make browser)"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"note": "falta el paquete playwright"}
    port = free_port()
    env = os.environ | config.to_env() | {"HF_HUB_OFFLINE": "1"}
    # The project's .streamlit/config.toml applies, as with `make run`: nothing overridden here.
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    out: dict = {}
    try:
        wait_healthy(url, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                        args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url, timeout=120_000)
                page.get_by_placeholder(re.compile("Pregunta sobre el curso")).wait_for(timeout=180_000)
                time.sleep(5)  # the first run's model loading settles
                before, t0 = cpu_seconds(proc.pid), time.monotonic()
                time.sleep(idle_s)
                out["idle_cpu_share"] = (cpu_seconds(proc.pid) - before) / (time.monotonic() - t0)
                if variant_label:
                    choose_model(page, variant_label)
                box = page.get_by_placeholder(re.compile("Pregunta sobre el curso"))
                app, here, server_s, others_s, wall = [], [], 0.0, 0.0, 0.0
                for asked in range(rounds):
                    busy0, server0, t1 = system_busy_seconds(), cpu_seconds(proc.pid), time.monotonic()
                    box.fill(question)
                    box.press("Enter")
                    stats = page.get_by_text(re.compile(r"tokens/s"))
                    stats.nth(asked).wait_for(timeout=300_000)
                    dt = time.monotonic() - t1
                    server = cpu_seconds(proc.pid) - server0
                    if asked:
                        wall, server_s = wall + dt, server_s + server
                        others_s += system_busy_seconds() - busy0 - server
                    match = _TPS.search(stats.nth(asked).inner_text())
                    if match and asked:
                        app.append(float(match.group(1)))
                    if cli is not None and (speed := cli()) is not None and asked:
                        here.append(speed)
                out["app_tokens_per_s"], out["cli_tokens_per_s"] = app, here
                out["note"] = (f"mientras responde: servidor {server_s / max(wall, 1e-9):.2f} núcleos, el resto de la "
                               f"máquina (Chromium incluido) {others_s / max(wall, 1e-9):.2f} núcleos de {os.cpu_count()}")
            finally:
                browser.close()
    except Exception as exc:  # the bench reports what it could not measure instead of dying
        out["note"] = f"no se pudo medir la app servida: {exc}"
    finally:
        stop(proc)
    return out


def choose_model(page, label: str) -> None:
    """Pick `label` in the sidebar's «Modelo (Chat)» combobox, unless it is already chosen."""
    box = page.get_by_role("combobox", name="Modelo (Chat)")
    if box.input_value() == label:
        return
    box.click()
    page.get_by_role("option", name=label).click()
    deadline = time.monotonic() + 30
    while box.input_value() != label:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Chat's model did not change to {label!r}")
        time.sleep(0.1)
    time.sleep(2)  # the rerun that the change starts


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """End a served app: SIGTERM, then SIGKILL if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def cli_tokens_per_s(engine, question: str, variant: str) -> float | None:
    """The same Chat answer in this process: the same model and the app's default settings."""
    answer = engine.ask(question, variant, DecodingSettings())
    return answer.stats.tokens_per_s if answer.stats is not None and answer.stats.new_tokens > 1 else None
