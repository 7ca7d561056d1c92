"""Regression: the page turned white (``Error: Cannot set a node at a delta path``) and the
live source cards stayed under the answer, duplicated, after a few questions in Chromium.

Root cause (Streamlit 1.67): the live answer filled one ``st.empty()`` twice in one run
with different layouts (the live cards, then the final details). The frontend lets a
new block take over the children of the block it replaces when both are the same kind,
so the extra live cards stayed (they carry the current run's id, so end-of-run cleanup
keeps them); and when both layouts left the server in one batch, the queue's coalescing
of messages for the same path sent a child before its parent, and the frontend threw.
Timing-dependent, hence several sessions.

The app is started exactly as ``make run`` does (``make_run_app``: a copy of the project,
default config and data dir inside it, only the port differs). Each session asks three
questions, the second a follow-up ("et à Nantes ?") that shows an inferred filter chip,
then removes the chip (the question is asked again without it). After every answer: no
frontend error, the page not blank, no source card twice in one message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.support.streamlit_app import MakeRun

pytestmark = pytest.mark.browser

SESSIONS = int(os.environ.get("RAG_BROWSER_SESSIONS", "4"))
QUESTIONS = ("Comment la mairie de Brest a-t-elle réaménagé le hall d'accueil de l'hôtel de ville ?",
             "et à Nantes ?", "Qui a travaillé avec des designers de service ?")
FOLLOW_UP = QUESTIONS[1]
CHIPS = "Filtres déduits de la question (cliquez pour retirer)"
NANTES_CHIP = "Commune : Nantes"
WATCH_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__ran = false;
  if (window.__watching) return;
  window.__watching = true;
  new MutationObserver(records => {
    for (const r of records) {
      if (r.oldValue === 'running' || app.getAttribute('data-test-script-state') === 'running') window.__ran = true;
    }
  }).observe(app, {attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
}"""
"""Sets ``window.__ran`` once a script run started after the call (it may be very short)."""
STATE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const messages = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
  const users = messages.filter(m => m.querySelector('[data-testid="stChatMessageAvatarUser"]'));
  const assistants = messages.filter(m => m.querySelector('[data-testid="stChatMessageAvatarAssistant"]'));
  const cards = m => [...m.querySelectorAll('[class*="st-key-card_"]')]
    .map(c => (c.querySelector('h1, h2, h3, h4, h5, h6, strong') || c).textContent.trim());  // hidden ones too
  return {shown: !!app && document.body.innerText.trim().length > 0, ran: !!window.__ran,
          state: app ? app.getAttribute('data-test-script-state') : null,
          lastQuestion: users.length ? users[users.length - 1]
            .querySelector('[data-testid="stChatMessageContent"]').innerText.trim() : '',
          assistants: assistants.length,
          answered: assistants.filter(m => m.innerText.includes("Envoyer l'avis")).length,
          duplicated: assistants.map(cards).map(t => t.filter((x, i) => t.indexOf(x) !== i)).flat(),
          liveCards: document.querySelectorAll('[class*="st-key-card_live"]').length};
}"""


def act_and_wait(page: Page, errors: list[str], action: Callable[[], object], last_question: str,
                 timeout: float = 120) -> dict:
    """Do ``action``, wait for the script run it starts to end with every
    answer complete and ``last_question`` last; fail at once on a frontend error or a
    blank page, and on a source card shown twice in one message."""
    page.evaluate(WATCH_JS)
    action()
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(STATE_JS)
        assert state["shown"] and not errors, f"page went blank / frontend error: {errors}"
        if state["ran"] and state["state"] == "notRunning" and state["lastQuestion"] == last_question \
                and state["answered"] == state["assistants"]:
            page.wait_for_timeout(300)  # late deltas land, then look again
            state = page.evaluate(STATE_JS)
            assert state["shown"] and not errors, f"page went blank / frontend error: {errors}"
            assert not state["duplicated"] and not state["liveCards"], f"leftover cards: {state}"
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"no complete answer in {timeout} s: {state}")
        page.wait_for_timeout(100)


def ask(page: Page, question: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")


@pytest.mark.parametrize("session", range(SESSIONS))
def test_questions_follow_up_and_chip_removal(chromium: Browser, make_run_app: MakeRun, session: int) -> None:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)  # the first session may wait for the index build
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "delta path" in msg.text
            else None)
    try:
        page.goto(make_run_app.url)
        page.get_by_test_id("stChatInputTextArea").wait_for(state="visible")
        for question in QUESTIONS:
            act_and_wait(page, errors, lambda q=question: ask(page, q), question)
            if question == FOLLOW_UP:
                chips = page.get_by_test_id("stChatMessage").last.get_by_test_id("stButtonGroup").filter(has_text=CHIPS)
                assert chips.get_by_role("button", name=NANTES_CHIP).count() == 1
        chip = page.get_by_test_id("stButtonGroup").filter(has_text=CHIPS).get_by_role("button", name=NANTES_CHIP)
        act_and_wait(page, errors, chip.click, FOLLOW_UP)  # asked again without the chip
        last = page.get_by_test_id("stChatMessage").last
        assert last.get_by_role("button", name=NANTES_CHIP).count() == 0
    finally:
        context.close()


def inotify_watches(pid: int) -> int:
    """How many inotify watches the process holds (``/proc/PID/fdinfo``)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            count += sum(line.startswith("inotify") for line in fd.read_text().splitlines())
        except OSError:
            continue  # closed meanwhile
    return count


def test_no_recursive_file_watch_and_a_clean_log(chromium: Browser, make_run_app: MakeRun) -> None:
    """Streamlit's default watcher put one recursive inotify watch on app.py's folder, per
    open session: the whole project, its .venv and the .data being indexed (4,000+ watches
    in a clone, "Inotify queue overflowed" floods). The project's config polls the app's
    own files instead."""
    assert make_run_app.process is not None
    page = chromium.new_page()
    try:
        page.goto(make_run_app.url)
        page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=180_000)
        assert inotify_watches(make_run_app.process.pid) == 0
    finally:
        page.close()
    log = make_run_app.log()
    assert "Traceback" not in log and "Inotify queue overflowed" not in log, log[-3000:]
    assert "Stack (most recent call last)" not in log, log[-3000:]  # a warning's stack dump (chip removal)
