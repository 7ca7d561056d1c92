"""The real thing: ``streamlit run app.py`` as a subprocess on 127.0.0.1, driven by
Playwright for Python through Debian's Chromium (``/usr/bin/chromium``; Playwright's own
browser download is not used).

One test walks the whole path a user takes: first start (the index is built), a
question, the answer with ``[1]`` and its source cards, the fiche viewer, the Markdown
export; then a hostile fiche (``<script>``, ``<img onerror>``, ``javascript:`` links) is
opened and nothing runs or is clickable. Screenshots go to ``tests/artifacts/``
(git-ignored); with ``RAG_UPDATE_SCREENSHOT=1`` the README's ``docs/screenshot.png`` is
refreshed too. The cold-start time (process start -> first answer visible) is written to
``tests/artifacts/cold_start.txt``, not asserted. The embedder is ``hashing`` for speed;
``RAG_BROWSER_EMBEDDER=use`` measures the default configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.support.chroma_server import free_port
from tests.support.ui_fixtures import INJECTION_QUESTION, ROOT, corpus_with_injection

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "tests" / "artifacts"
QUESTION = "Comment la mairie de Brest a-t-elle réaménagé le hall d'accueil de l'hôtel de ville ?"
TITLE = "Accueil en Mairie de brest"
WAIT_MS = 60_000


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Poll Streamlit's health endpoint until it answers ``ok``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("streamlit did not become healthy")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float, Path]]:
    """``streamlit run app.py`` on a free port, with a tmp data dir and the bundled
    corpus plus the hostile fiche; yields (url, start time, log path)."""
    tmp = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(tmp / "data"),
           "RAG_CORPUS_DIR": str(corpus_with_injection(tmp / "fiches")),
           "RAG_BACKEND": "extractive", "RAG_EMBEDDER": os.environ.get("RAG_BROWSER_EMBEDDER", "hashing")}
    log_path = tmp / "streamlit.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port),
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, started, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        yield page
        browser.close()


def ask(page: Page, question: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")


def last_answer(page: Page):  # noqa: ANN201 - a Playwright Locator
    """The last assistant message, once its answer and sources are fully rendered."""
    message = page.get_by_test_id("stChatMessage").last
    expect(message.get_by_text("Envoyer l'avis")).to_be_visible()
    return message


def test_chat_in_a_real_browser(page: Page, server: tuple[str, float, Path]) -> None:
    url, started, log_path = server  # the browser is launched first: not in the cold start
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.add_init_script("window.alert = (m) => { window.__pwned = 'alert:' + m; };")
    page.goto(url)
    healthy = time.monotonic() - started
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
    ready = time.monotonic() - started

    ask(page, QUESTION)
    answer = last_answer(page)
    cold_start = time.monotonic() - started
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "cold_start.txt").write_text(
        f"embedder={os.environ.get('RAG_BROWSER_EMBEDDER', 'hashing')}: server up {healthy:.1f} s, "
        f"index ready and chat shown {ready:.1f} s, first answer visible {cold_start:.1f} s "
        "(from `streamlit run`)\n")
    expect(answer).to_contain_text("[1]")
    expect(answer).to_contain_text(f"[1] {TITLE} › ")
    expect(answer).to_contain_text("Sources citées")
    page.get_by_test_id("stChatMessage").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=False)
    if os.environ.get("RAG_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "docs" / "screenshot.png"), full_page=False)

    answer.get_by_role("button", name="Voir la fiche").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(TITLE)
    expect(dialog).to_contain_text("section citée")
    expect(dialog).to_contain_text("Partenaires associés")
    page.screenshot(path=str(ARTIFACTS / "viewer.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Sources citées" in exported and "Accueil en Mairie de brest" in exported
    assert "https://www.a-brest.net/article22276.html" in exported

    ask(page, INJECTION_QUESTION)
    answer = last_answer(page)
    expect(answer).to_contain_text("Guichet piégé de Quimperlé")
    card = answer.locator("[class*='st-key-card_']").filter(has_text="Guichet piégé de Quimperlé")
    card.get_by_role("button", name="Voir la fiche").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("<script>window.__pwned='script'</script>")  # shown as text
    expect(dialog).to_contain_text("[Cliquez ici](javascript:window.__pwned='link')")
    expect(dialog).to_contain_text(":red[rouge] $x^2$")  # directives and LaTeX stay literal
    page.wait_for_timeout(500)  # give any injected handler a chance to fire
    page.screenshot(path=str(ARTIFACTS / "injection.png"))

    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert page.locator("a[href^='javascript:' i], [href*='javascript:' i], [src*='javascript:' i]").count() == 0
    assert page.locator("[onerror], [onload]:not(body)").count() == 0
    assert page.evaluate("[...document.scripts].filter(s => s.text.includes('__pwned')).length") == 0
    for link in page.locator("[data-testid='stMain'] a[href]").all():
        assert link.get_attribute("href").startswith(("http://", "https://", "mailto:", "#", "/")), link
    page.keyboard.press("Escape")

    page.get_by_test_id("stSidebarNav").get_by_text("Catalogue").click()
    expect(page.get_by_test_id("stExpander")).to_have_count(11)
    page.get_by_role("tab", name="Statistiques").click()
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(3)
    assert "Traceback" not in page.content()
    assert "Traceback" not in log_path.read_text(errors="replace")
