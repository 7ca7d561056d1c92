"""The Streamlit chat and catalogue pages, run in-process with ``streamlit.testing``
(AppTest) on the bundled catalogue, plus the safe-rendering and feedback helpers.

Settings come from the environment (AppTest runs the script in this process); each
group of tests gets its own tmp data dir, and the app caches its Services per settings,
so no test sees another's index or backend. LLM tests use our loopback fake server.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.ui.export import conversation_markdown
from rag.ui.feedback import append_feedback
from rag.ui.rendering import escape_markdown, markdown_link, safe_markdown, safe_url
from tests.support.fake_llm_server import Scenario
from tests.support.ui_fixtures import (
    INJECTION_QUESTION,
    ROOT,
    corpus_with_injection,
    read_feedback,
    unescape,
    unescaped_markup,
)

BREST_QUESTION = "Comment la mairie de Brest a-t-elle réaménagé le hall d'accueil de l'hôtel de ville ?"
BREST_TITLE = "Accueil en Mairie de brest"
TIMEOUT = 120


@pytest.fixture(scope="module")
def module_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir (one index) shared by the module's extractive-backend tests."""
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture
def app_env(module_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Env for the app: bundled corpus, hashing embedder, extractive backend."""
    monkeypatch.setenv("RAG_DATA_DIR", str(module_data))
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    monkeypatch.setenv("RAG_BACKEND", "extractive")
    monkeypatch.delenv("RAG_CORPUS_DIR", raising=False)
    return module_data


def start(page: str = "app.py") -> AppTest:
    """A fresh session of the app, first run done (the index is built if needed)."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def assistant_texts(at: AppTest) -> list[str]:
    """The readable Markdown of the last assistant message."""
    message = [m for m in at.chat_message if m.name == "assistant"][-1]
    return [unescape(m.value) for m in message.markdown]


def card_titles(at: AppTest) -> list[str]:
    """Titles "[n] Titre › Section" of the source cards of the last answer."""
    return [t.strip("*") for t in assistant_texts(at) if t.startswith("**[") and " › " in t]


def card_facts(at: AppTest) -> list[str]:
    message = [m for m in at.chat_message if m.name == "assistant"][-1]
    return [unescape(c.value) for c in message.caption if "Ville :" in unescape(c.value)]


def test_question_gives_cited_answer_and_source_cards(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    texts = assistant_texts(at)
    assert "[1]" in texts[0], texts[0]
    titles = card_titles(at)
    assert titles and titles[0].startswith(f"[1] {BREST_TITLE} › "), titles
    assert any("Ville : Brest" in fact for fact in card_facts(at))
    assert "Sources citées" in " ".join(f"{t}" for t in texts)
    assert not at.error
    # nothing in the chat is rendered as raw HTML
    assert all(not m.proto.allow_html for m in at.markdown)


def test_sidebar_says_the_default_engine_works_offline(app_env: Path) -> None:
    assert any("hors ligne" in c.value for c in start().sidebar.caption)


def test_sidebar_filter_changes_the_sources(app_env: Path) -> None:
    question = "Comment améliorer l'accueil des usagers ?"
    at = ask(start(), question)
    unfiltered = card_facts(at)
    at.pills(key="filter_commune").set_value("Nantes").run()
    at = ask(at, question)
    filtered = card_facts(at)
    assert filtered and all("Ville : Nantes" in fact for fact in filtered), filtered
    assert filtered != unfiltered
    assert at.session_state["turns"][-1].filters == {"commune": "Nantes"}


def test_inferred_filter_chip_can_be_removed(app_env: Path) -> None:
    at = ask(start(), "Quelles initiatives d'accueil à Nantes ?")
    turn = at.session_state["turns"][-1]
    assert turn.inferred == {"commune": "Nantes"}
    assert all("Ville : Nantes" in fact for fact in card_facts(at))
    chips = at.pills(key=f"inferred_{turn.id}")
    assert chips.value == ["Commune : Nantes"]
    chips.set_value([]).run()
    assert not at.exception
    turns = at.session_state["turns"]
    assert len(turns) == 1 and turns[0].filters == {} and turns[0].inferred == {}
    assert any("Ville : Nantes" not in fact for fact in card_facts(at))


def test_example_chip_asks_the_example(app_env: Path) -> None:
    at = start()
    example = at.pills(key="example")
    example.set_value(example.options[0]).run()
    assert not at.exception
    turns = at.session_state["turns"]
    assert len(turns) == 1 and turns[0].answer and turns[0].sources


def test_follow_up_uses_the_history(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    at = ask(at, "Et quels partenaires ont participé ?")
    turns = at.session_state["turns"]
    assert len(turns) == 2
    assert any(s.fiche_id == "accueil-en-mairie-de-brest" for s in turns[1].sources)


def test_fiche_viewer_shows_whole_fiche_with_cited_section(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    turn = at.session_state["turns"][-1]
    first = turn.sources[0]
    at.button(key=f"open_{turn.id}_{first.n}").click().run()
    assert not at.exception
    texts = [unescape(m.value) for m in at.markdown]
    assert f"### {BREST_TITLE}" in texts
    assert any(t.startswith("#### ▶ ") and "section citée" in t and first.section in t for t in texts) \
        or first.section == "Fiche"
    for section in ("Description", "Enjeux", "Réalisations"):
        assert any(t in (f"#### {section}", f"#### ▶ {section} — section citée") for t in texts), section
    assert any("Partenaires associés" in t and "Agence DETEA" in t for t in texts)
    assert at.info, "the cited section is highlighted"


def test_new_conversation_and_export(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    turns = at.session_state["turns"]
    export = conversation_markdown(turns, backend="extractive")
    assert "## 1. " in export and "### Sources citées" in export
    assert unescape(f"[1] {BREST_TITLE} › ") in unescape(export)
    assert "https://www.a-brest.net/article22276.html" in export
    assert not at.sidebar.get("download_button")[0].proto.disabled
    at.sidebar.button[0].click().run()  # "Nouvelle conversation"
    assert at.session_state["turns"] == []
    assert at.sidebar.get("download_button")[0].proto.disabled


def test_feedback_line_is_written(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLM_API_KEY", "sk-test-SECRET-123")
    at = ask(start(), BREST_QUESTION)
    turn = at.session_state["turns"][-1]
    at.feedback(key=f"rating_{turn.id}").set_value(1)
    at.text_input(key=f"comment_{turn.id}").input("Très utile, merci")
    at.button(key=f"FormSubmitter:feedback_{turn.id}-Envoyer l'avis").click().run()
    assert not at.exception
    records = [r for r in read_feedback(app_env) if r["turn_id"] == turn.id]
    assert len(records) == 1
    record = records[0]
    assert record["rating"] == "up" and record["comment"] == "Très utile, merci"
    assert record["question"] == BREST_QUESTION and "[1]" in record["answer"]
    assert record["backend"] == "extractive" and record["timestamp"]
    assert record["cited"][0]["fiche_id"] == "accueil-en-mairie-de-brest"
    assert "sk-test-SECRET-123" not in (app_env / "feedback.jsonl").read_text()
    assert any("avis a été enregistré" in c.value for c in at.caption)


@pytest.fixture
def llm_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llm) -> object:  # noqa: ANN001, F811
    """Env for the openai backend against our loopback fake server, no retries."""
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    monkeypatch.setenv("RAG_BACKEND", "openai")
    monkeypatch.setenv("RAG_LLM_BASE_URL", fake_llm.url + "/v1")
    monkeypatch.setenv("RAG_LLM_MODEL", "test-model")
    monkeypatch.setenv("RAG_MAX_RETRIES", "0")
    monkeypatch.setenv("RAG_LLM_API_KEY", "sk-test-SECRET-456")
    return fake_llm


def test_llm_answer_streams_with_citation(llm_env) -> None:  # noqa: ANN001
    llm_env.queue(Scenario(tokens=["La mairie ", "a réaménagé ", "son hall [1]."]))
    at = ask(start(), BREST_QUESTION)
    assert assistant_texts(at)[0] == "La mairie a réaménagé son hall [1]."
    assert card_titles(at)[0].startswith("[1] ")
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "RAG\\_LLM\\_API\\_KEY" in sidebar or "RAG_LLM_API_KEY" in sidebar
    assert "hors ligne" not in sidebar  # the openai backend needs the network
    shown = [*(m.value for m in at.markdown), *(c.value for c in at.caption),
             *(t.value for t in at.text_input), *(e.value for e in at.error)]
    assert "sk-test-SECRET-456" not in json.dumps(shown)


def test_failing_backend_shows_error_and_keeps_sources(llm_env, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    caplog.set_level("DEBUG")
    llm_env.queue(Scenario(status=500, error="boom"))
    at = ask(start(), BREST_QUESTION)
    assert llm_env.chat_hits()[-1].headers.get("Authorization") == "Bearer sk-test-SECRET-456"
    assert "sk-test-SECRET-456" not in caplog.text
    assert at.error, "the failure is shown"
    message = unescape(at.error[0].value)
    assert "openai" in message and "500" in message, message
    assert card_titles(at), "the retrieved sources stay visible"
    assert not at.exception
    assert "Traceback" not in json.dumps([m.value for m in at.markdown])


def test_unreachable_backend_is_readable(llm_env, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from tests.support.fake_llm_server import closed_port_url

    monkeypatch.setenv("RAG_LLM_BASE_URL", closed_port_url() + "/v1")
    at = ask(start(), BREST_QUESTION)
    assert at.error and "openai" in unescape(at.error[0].value)
    assert card_titles(at)


def test_not_covered_state_lists_the_closest_initiatives(app_env: Path) -> None:
    at = start()
    at.pills(key="filter_commune").set_value("Quimper").run()
    at.pills(key="filter_echelle").set_value("Département").run()  # no such fiche
    at = ask(at, "Comment améliorer l'accueil ?")
    turn = at.session_state["turns"][-1]
    assert turn.abstained and turn.sources
    assert any("Non couvert" in w.value for w in at.warning)
    assert len(card_titles(at)) == len(turn.sources)


def test_long_question_notice_is_shown(app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_MAX_QUESTION_CHARS", "100")
    at = ask(start(), "Comment améliorer l'accueil en mairie ? " * 20)
    assert any("Question trop longue" in unescape(i.value) for i in at.info)
    assert at.session_state["turns"][-1].sources


def test_empty_question_is_a_clear_error(app_env: Path) -> None:
    at = ask(start(), "   \x00  ")
    assert at.error and not at.exception


def test_injection_fiche_renders_inert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus_with_injection(tmp_path / "fiches")))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    monkeypatch.setenv("RAG_BACKEND", "extractive")
    at = ask(start(), INJECTION_QUESTION)
    turn = at.session_state["turns"][-1]
    hostile = next(s for s in turn.sources if s.fiche_id == "guichet-piege-de-quimperle")
    assert hostile.url == ""
    at.button(key=f"open_{turn.id}_{hostile.n}").click().run()
    shown = [m.value for m in at.markdown] + [i.value for i in at.info] + [c.value for c in at.caption]
    visible = "\n".join(unescape(v) for v in shown)
    assert "<script>window.__pwned='script'</script>" in visible  # shown as text
    for value in shown:
        if "](http" not in value:
            assert not unescaped_markup(value), value
    assert all(not m.proto.allow_html for m in at.markdown)


def test_catalogue_page_browse_search_charts_compare(app_env: Path) -> None:
    at = start("pages/1_Catalogue.py")
    assert len(at.expander) == 10
    at.text_input[0].input("Brest").run()
    labels = [unescape(e.label) for e in at.expander]
    assert BREST_TITLE in labels and len(labels) < 10
    assert len(at.get("vega_lite_chart")) == 3
    at.multiselect(key="compare").set_value(
        ["accueil-en-mairie-de-brest", "co-conception-de-la-mairie-de-nantes-sud"]).run()
    assert not at.exception
    headings = [unescape(m.value) for m in at.markdown if m.value.startswith("#### ")]
    assert "#### Description" in headings and "#### Enjeux" in headings


# --- helpers: safe rendering and feedback -------------------------------------------

def test_escape_markdown_neutralises_markup() -> None:
    text = "<script>x</script> [a](javascript:alert(1)) **b** :red[c] $d$ &lt;"
    escaped = escape_markdown(text)
    assert not unescaped_markup(escaped)
    assert unescape(escaped) == text
    assert "**" not in escaped.replace("\\*", "")


def test_safe_markdown_keeps_formatting_but_not_links() -> None:
    shown = safe_markdown("**Titre**\n- point [1] <img src=x onerror=alert(1)> [x](javascript:y)")
    assert shown.startswith("**Titre**\n- point ")
    assert not unescaped_markup(shown)


@pytest.mark.parametrize("url,ok", [
    ("https://example.org/a", True), ("http://x.fr", True), ("javascript:alert(1)", False),
    ("JaVaScRiPt:alert(1)", False), ("data:text/html,<b>", False), ("//evil.com", False),
    ("https://ex.org/a b", False), ("", False),
])
def test_safe_url_allows_only_http(url: str, ok: bool) -> None:
    assert bool(safe_url(url)) is ok
    link = markdown_link("site", url)
    assert ("](" in link) is ok


def _write_many(args: tuple[str, int, int]) -> None:
    data_dir, worker, count = args
    for i in range(count):
        append_feedback(Path(data_dir), {"worker": worker, "i": i, "comment": "é" * 3000})


def test_concurrent_feedback_writes_lose_nothing(tmp_path: Path) -> None:
    threads = [threading.Thread(target=_write_many, args=((str(tmp_path), w, 50),)) for w in range(8)]
    for thread in threads:
        thread.start()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_write_many, [(str(tmp_path), 100 + w, 50) for w in range(2)]))
    for thread in threads:
        thread.join()
    records = read_feedback(tmp_path)  # json.loads of every line: a torn line would fail
    assert len(records) == 500
    assert {(r["worker"], r["i"]) for r in records} == {(w, i) for w in [*range(8), 100, 101] for i in range(50)}


def test_feedback_never_writes_secrets(tmp_path: Path) -> None:
    append_feedback(tmp_path, {"question": "q sk-ABC", "api_key": "sk-ABC", "nested": {"token": "t"}},
                    secrets=("sk-ABC",))
    text = (tmp_path / "feedback.jsonl").read_text()
    assert "sk-ABC" not in text and '"token"' not in text and "q ***" in text
