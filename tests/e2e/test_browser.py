"""The real thing: the chat started exactly as ``make run`` starts it (``make_run_app``: a
copy of the project, its ``.streamlit/config.toml``, the default data dir ``.data`` inside
it, the default embedder; only the port differs), driven by Playwright through Debian's
Chromium.

* a first question (cold start measured), ``[1]`` and its cards, the fiche viewer, the
  export, a hostile fiche that must stay inert, the catalogue tabs; axe-core audits the
  welcome screen, the answer, the open dialog and each catalogue tab;
* a conversation: ask, follow up, reload -> it is back; a second conversation, then back
  to the first from the sidebar; a click on ``[1]`` opens (in a new tab) the fiche with
  the cited sentence highlighted;
* feedback: a 👎 with a reason and a comment, found on the Retours page (audited too),
  whose "Ajouter au jeu d'évaluation" appends to the copy's ``eval/feedback.jsonl``;
* timings: Enter -> first token and -> complete answer, measured in the page.

Screenshots go to ``tests/artifacts/`` (git-ignored); with ``RAG_UPDATE_SCREENSHOT=1`` the
README's ``docs/*.png`` are refreshed too. Figures are written to ``tests/artifacts/``,
never asserted.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from rag.config import load_settings
from rag.conversations import LOCAL_USER, ConversationStore
from tests.support.axe import audit
from tests.support.conversations import answer
from tests.support.streamlit_app import MakeRun
from tests.support.ui_fixtures import INJECTION_QUESTION, ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "tests" / "artifacts"
QUESTION = "Comment la mairie de Brest a-t-elle réaménagé le hall d'accueil de l'hôtel de ville ?"
TITLE = "Accueil en Mairie de brest"
BREST = "accueil-en-mairie-de-brest"
WAIT_MS = 120_000
DONE_JS = """([answers]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const assistants = [...document.querySelectorAll('[data-testid="stChatMessage"]')]
    .filter(m => m.querySelector('[data-testid="stChatMessageAvatarAssistant"]'));
  return app.getAttribute('data-test-script-state') === 'notRunning' && assistants.length === answers
    && assistants.every(m => m.innerText.includes("Envoyer l'avis") || m.innerText.includes('Votre avis'));
}"""
DATE_SHOWN_JS = """(entry) => {
  const label = entry.querySelector('[data-testid="stMarkdownContainer"]') || entry;
  const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let node; (node = walker.nextNode());) nodes.push(node);
  const text = nodes.map(n => n.textContent).join('');
  const at = text.search(/\\d\\d\\/\\d\\d \\d\\d:\\d\\d/);  // « 29/11 14:05 », split by Streamlit at « : »
  if (at < 0) return 'no date in ' + text;
  const range = document.createRange();
  let seen = 0;
  for (const node of nodes) {
    const end = seen + node.textContent.length;
    if (seen <= at && at < end) range.setStart(node, at - seen);
    if (seen < at + 11 && at + 11 <= end) range.setEnd(node, at + 11 - seen);
    seen = end;
  }
  const date = range.getBoundingClientRect();
  let box = label;  // the first box that clips the label
  while (box && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
  const shown = (box || document.body).getBoundingClientRect();
  return date.width > 0 && date.left >= shown.left && date.right <= shown.right ? 'visible'
    : `clipped: date ${date.left}-${date.right}, shown ${shown.left}-${shown.right}`;
}"""
TIMING_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const running = () => app.getAttribute('data-test-script-state') === 'running';
  const count = () => document.querySelectorAll('[data-testid="stChatMessageAvatarAssistant"]').length;
  window.__t = {base: count()};
  if (window.__timing) return;
  window.__timing = true;
  const text = () => {
    const messages = [...document.querySelectorAll('[data-testid="stChatMessage"]')];
    const first = messages.length && messages[messages.length - 1].querySelector('[data-testid="stMarkdownContainer"]');
    return first ? first.innerText.trim() : '';
  };
  document.addEventListener('keydown', e => {
    if (e.key === 'Enter' && !window.__t.enter) window.__t.enter = performance.now();
  }, true);
  new MutationObserver(() => {
    const t = window.__t;
    if (!t.enter) return;
    if (running()) t.ran = true;
    const shown = text();
    if (!t.first && count() > t.base && shown && !shown.startsWith('Passages retrouvés')) t.first = performance.now();
    if (t.ran && t.first && !t.done && !running()) t.done = performance.now();
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser session (its own Streamlit session)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    yield context
    context.close()


def ask(page: Page, question: str, answers: int) -> Locator:
    """Type ``question``, press Enter; the last assistant message once ``answers`` are complete."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(DONE_JS, arg=[answers], timeout=WAIT_MS)
    return page.get_by_test_id("stChatMessage").last


def shoot(page: Page, name: str, docs: str | None = None) -> None:
    """A screenshot in tests/artifacts, and in docs/ with RAG_UPDATE_SCREENSHOT=1."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    if docs and os.environ.get("RAG_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(ROOT / "docs" / docs))


def no_violation(page: Page, where: str) -> None:
    violations = audit(page)
    assert not violations, f"axe, {where}:\n" + "\n".join(violations)


def test_chat_in_a_real_browser(chromium: Browser, make_run_app: MakeRun, context: BrowserContext) -> None:
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.add_init_script("window.alert = (m) => { window.__pwned = 'alert:' + m; };")
    page.goto(make_run_app.url)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
    ready = time.monotonic() - make_run_app.started
    expect(page).to_have_title("Assistant — Initiatives d'accueil")
    no_violation(page, "welcome")

    answer = ask(page, QUESTION, 1)
    cold_start = time.monotonic() - make_run_app.started
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "cold_start.txt").write_text(
        f"make run configuration (embedder use): index ready and chat shown {ready:.1f} s, first answer "
        f"visible {cold_start:.1f} s (from `streamlit run`)\n")
    expect(answer.get_by_role("link", name="[1]").first).to_be_visible()
    expect(answer.get_by_role("heading", name="Sources citées")).to_be_visible()
    expect(answer.get_by_role("heading", name=f"[1] {TITLE} › ").first).to_be_visible()
    page.get_by_test_id("stChatMessage").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    shoot(page, "chat", "screenshot.png")
    no_violation(page, "after an answer")

    answer.get_by_role("button", name="Voir la fiche").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(TITLE)
    expect(dialog).to_contain_text("section citée")
    expect(dialog).to_contain_text("Partenaires associés")
    no_violation(page, "dialog open")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").get_by_role("button").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert re.fullmatch(r"conversation-comment-la-mairie-de-brest-[a-z0-9-]+-\d{4}-\d{2}-\d{2}\.md",
                        download.value.suggested_filename), download.value.suggested_filename
    assert "Sources citées" in exported and TITLE in exported
    assert "https://www.a-brest.net/article22276.html" in exported

    answer = ask(page, INJECTION_QUESTION, 2)
    expect(answer).to_contain_text("Guichet piégé de Quimperlé")
    card = answer.locator("[class*='st-key-card_']").filter(has_text="Guichet piégé de Quimperlé")
    card.get_by_role("button", name="Voir la fiche").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("<script>window.__pwned='script'</script>")  # shown as text
    expect(dialog).to_contain_text("[Cliquez ici](javascript:window.__pwned='link')")
    expect(dialog).to_contain_text(":red[rouge] $x^2$")  # directives and LaTeX stay literal
    page.wait_for_timeout(500)  # give any injected handler a chance to fire
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
    assert page.locator("a[href^='javascript:' i], [href*='javascript:' i], [src*='javascript:' i]").count() == 0
    assert page.locator("[onerror], [onload]:not(body)").count() == 0
    assert page.evaluate("[...document.scripts].filter(s => s.text.includes('__pwned')).length") == 0
    for link in page.locator("[data-testid='stMain'] a[href]").all():
        assert link.get_attribute("href").startswith(("http://", "https://", "mailto:", "#", "/", "?c=")), link
    page.keyboard.press("Escape")

    page.get_by_test_id("stSidebarNav").get_by_text("Catalogue").click()
    expect(page).to_have_title("Catalogue — Initiatives d'accueil")
    expect(page.get_by_test_id("stExpander").filter(has_not_text="Données du graphique")).to_have_count(11)
    no_violation(page, "catalogue, Parcourir")
    page.get_by_role("tab", name="Statistiques").click()
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(4)
    expect(page.get_by_role("heading", name="Par région")).to_be_visible()
    no_violation(page, "catalogue, Statistiques")
    page.get_by_role("tab", name="Comparer").click()
    no_violation(page, "catalogue, Comparer")
    assert "Traceback" not in page.content() and "Traceback" not in make_run_app.log()


def test_conversation_comes_back_and_a_citation_opens_its_sentence(make_run_app: MakeRun,
                                                                     context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(make_run_app.url)
    ask(page, QUESTION, 1)
    answer = ask(page, "et à Nantes ?", 2)
    expect(answer.get_by_role("button", name="Commune : Nantes")).to_be_visible()
    first = page.url.split("c=", 1)[1]

    page.reload()  # the conversation is in the URL and the database, not in the tab
    expect(page.get_by_test_id("stChatMessage")).to_have_count(4)
    expect(page.get_by_test_id("stChatMessage").first).to_contain_text(QUESTION)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("(ouverte)")

    sidebar.get_by_role("button", name="Nouvelle conversation").click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0)
    answer = ask(page, "Qui a travaillé avec des designers de service ?", 1)
    assert f"c={first}" not in page.url

    with context.expect_page() as opened:  # Streamlit opens Markdown links in a new tab
        answer.get_by_role("link", name="[1]").first.click()
    tab = opened.value
    dialog = tab.get_by_role("dialog")
    expect(dialog).to_contain_text(TITLE)
    marked = dialog.locator("span[style*='background']")
    expect(marked).to_have_count(1)
    sentence = marked.inner_text().strip()
    assert len(sentence) > 20 and sentence in answer.inner_text()  # the extractive answer quotes it
    section = marked.locator("xpath=ancestor::*[@data-testid='stAlert'][1]").inner_text()
    assert len(section) > len(sentence) + 20  # the sentence is marked, not only its section
    marked.scroll_into_view_if_needed()
    tab.wait_for_timeout(500)
    shoot(tab, "citation", "citation.png")
    tab.close()

    sidebar.get_by_role("link").filter(has_text=QUESTION[:30]).first.click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(4)
    expect(page.get_by_test_id("stChatMessage").first).to_contain_text(QUESTION)
    expect(page).to_have_url(re.compile(rf"\?c={first}$"))
    page.get_by_test_id("stChatMessage").first.evaluate("e => e.scrollIntoView({block: 'start'})")
    shoot(page, "conversations", "conversations.png")


def test_feedback_reaches_the_retours_page_and_the_eval_set(make_run_app: MakeRun, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(make_run_app.url)
    answer = ask(page, QUESTION, 1)
    conversation = page.url.split("c=", 1)[1]
    answer.get_by_test_id("stFeedback").locator("button").nth(1).click()  # 👎
    answer.get_by_role("button", name="Incomplet").click()
    answer.get_by_label("Commentaire (facultatif)").fill("Il manque les horaires d'ouverture")
    answer.get_by_role("button", name="Envoyer l'avis").click()
    expect(page.get_by_test_id("stChatMessage").last).to_contain_text("Votre avis : pas utile (Incomplet)")

    page.get_by_test_id("stSidebarNav").get_by_text("Retours").click()
    expect(page).to_have_title("Retours — Initiatives d'accueil")
    item = page.locator("[class*='st-key-retour_i_']").filter(has_text="Il manque les horaires").first
    expect(item.get_by_role("link", name="Ouvrir la conversation")).to_have_attribute("href", f"/?c={conversation}")
    expect(page.get_by_role("heading", name=f"{TITLE} (")).to_be_visible()
    no_violation(page, "Retours")
    shoot(page, "retours", "retours.png")
    item.get_by_role("button", name="Ajouter au jeu d'évaluation").click()
    expect(page.locator("[class*='st-key-retour_i_']").filter(has_text="Il manque les horaires").first
           ).to_contain_text("ajoutée au jeu d'évaluation")
    page.get_by_role("tab", name="Par raison").click()
    expect(page.get_by_role("heading", name="Incomplet (")).to_be_visible()
    lines = (make_run_app.project / "eval" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert {"q": QUESTION, "gold": [BREST], "kind": "feedback"} in [json.loads(line) for line in lines]


def test_enter_to_first_token_and_to_answer(make_run_app: MakeRun, context: BrowserContext) -> None:
    """Figures, not assertions: Enter -> first answer text and -> complete answer."""
    page = context.new_page()
    page.goto(make_run_app.url)
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible()
    questions = [QUESTION, "et à Nantes ?", "Qui a travaillé avec des designers de service ?",
                 "Quelles initiatives accompagnent les usagers vers le numérique ?",
                 "Comment améliorer l'accueil en mairie ?"]
    first, total = [], []
    for n, question in enumerate(questions, start=1):
        page.evaluate(TIMING_JS)
        ask(page, question, n)
        page.wait_for_function("() => window.__t && window.__t.done", timeout=WAIT_MS)
        t = page.evaluate("window.__t")
        first.append(t["first"] - t["enter"])
        total.append(t["done"] - t["enter"])
    assert all(0 < f <= d for f, d in zip(first, total, strict=True))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "browser_timings.txt").write_text(
        f"extractive backend, embedder use, {len(questions)} questions in one session (turn 1 to 5): "
        f"Enter -> first answer text median {statistics.median(first):.0f} ms "
        f"(each: {', '.join(f'{x:.0f}' for x in first)}), Enter -> complete answer median "
        f"{statistics.median(total):.0f} ms (each: {', '.join(f'{x:.0f}' for x in total)})\n")


def test_a_long_title_keeps_its_date_visible_in_the_sidebar(make_run_app: MakeRun, context: BrowserContext) -> None:
    """A list entry is one line clipped at the sidebar's edge: with a 200-character title
    its date is still inside it, the title cut (« … ») and whole in the tooltip."""
    long_title = ("Accueil des usagers en mairie : comment réorganiser le hall, former les agents et installer une "
                  "borne d'accueil mobile pour les familles, les personnes âgées et les usagers très éloignés du "
                  "numérique.")
    assert len(long_title) == 200
    store = ConversationStore.from_settings(load_settings(data_dir=make_run_app.project / ".data"))
    conversation = store.create_conversation(LOCAL_USER, title=long_title)
    store.add_turn(conversation.id, LOCAL_USER, answer("Comment améliorer l'accueil ?"))
    page = context.new_page()
    page.goto(make_run_app.url)
    sidebar = page.get_by_test_id("stSidebar")
    entry = sidebar.get_by_test_id("stPageLink").filter(has_text="Accueil des usagers en mairie").first
    expect(entry).to_be_visible()
    assert page.evaluate(DATE_SHOWN_JS, entry.element_handle()) == "visible"
    entry.get_by_role("link").hover()
    expect(page.get_by_test_id("stTooltipContent")).to_contain_text(long_title)
    shoot(page, "long_title")
    page.goto(f"{make_run_app.url}/?c={conversation.id}")  # open, its entry wraps
    opened = sidebar.get_by_test_id("stMarkdownContainer").filter(has_text="(ouverte)")
    expect(opened).to_contain_text("Accueil des usagers en mairie : comment …")
    assert page.evaluate(DATE_SHOWN_JS, opened.element_handle()) == "visible"
    store.delete_conversation(conversation.id, LOCAL_USER)
