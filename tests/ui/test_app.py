"""The Streamlit chat, run in-process with ``streamlit.testing`` (AppTest) on the bundled
catalogue: answers and their cards, filters and inferred chips, conversations stored in
the real database (SQLite in the test's data dir) and reopened from ``?c=``, clicked
citations, feedback, a database fault, the OIDC identity, the export.

Settings come from the environment (AppTest runs the script in this process); each
group of tests gets its own tmp data dir, and the app caches its Services per settings,
so no test sees another's index or backend. LLM tests use our loopback fake server.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from streamlit.elements.lib import policies
from streamlit.testing.v1 import AppTest

from rag.config import load_settings
from rag.conversations import LOCAL_USER, user_id_from_claims
from rag.conversations.export import conversation_markdown
from rag.ui.state import Pending
from tests.support.conversations import answer
from tests.support.fake_llm_server import FakeLLMServer, Scenario
from tests.support.ui_fixtures import (
    BREST_QUESTION,
    INJECTION_QUESTION,
    ROOT,
    ask,
    assistant_texts,
    card_titles,
    corpus_with_injection,
    start,
    store_of,
    turns,
    unescape,
    unescaped_markup,
)

BREST_TITLE = "Accueil en Mairie de brest"
BREST = "accueil-en-mairie-de-brest"
TIMEOUT = 120


def card_facts(at: AppTest) -> list[str]:
    message = [m for m in at.chat_message if m.name == "assistant"][-1]
    return [unescape(c.value) for c in message.caption if "Ville :" in unescape(c.value)]


def test_question_gives_cited_answer_cards_and_a_stored_conversation(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    texts = assistant_texts(at)
    turn = turns(at)[-1]
    conversation = at.query_params["c"]
    assert f"[[1]](?c={conversation}&cite={turn.id}-1 " in texts[0], texts[0]  # [1] links to its passage
    assert "## Sources citées" in texts  # a real heading, then one per card
    titles = card_titles(at)
    assert titles and titles[0].startswith(f"[1] {BREST_TITLE} › "), titles
    assert [s.n for s in turn.answer.sources] == list(range(1, len(turn.answer.sources) + 1))
    assert any("Ville : Brest" in fact for fact in card_facts(at))
    assert not at.error and all(not m.proto.allow_html for m in at.markdown)
    stored = store_of(app_env).get_conversation(conversation, LOCAL_USER)
    assert BREST_QUESTION.startswith(stored.title.rstrip("…")) and [t.id for t in stored.turns] == [turn.id]
    assert stored.turns[0].answer == turn.answer.answer and stored.turns[0].timings.total_ms > 0
    assert stored.turns[0].timings.first_token_ms is not None


def test_reload_reopens_the_conversation_and_follow_ups_use_it(app_env: Path) -> None:
    first = ask(start(), BREST_QUESTION)
    conversation = first.query_params["c"]
    at = start(c=conversation)  # a reload, another tab, or a shared link
    assert [t.question for t in turns(at)] == [BREST_QUESTION]
    assert unescape(at.chat_message[0].markdown[0].value) == BREST_QUESTION
    sidebar = [unescape(m.value) for m in at.sidebar.markdown]
    assert any(BREST_QUESTION[:30] in m and "(ouverte)" in m for m in sidebar), sidebar  # cut at 40
    at = ask(at, "Et quels partenaires ont participé ?")
    stored = store_of(app_env).get_conversation(conversation, LOCAL_USER)
    assert len(stored.turns) == 2 and "brest" in stored.turns[1].standalone_question.lower()  # from the history
    assert any(s.fiche_id == BREST for s in turns(at)[1].answer.sources)


def test_a_run_without_the_address_keeps_the_open_conversation(app_env: Path) -> None:
    """A second question sent before the browser got the first answer's ``?c=`` (quick
    double submit), or the chat page opened again from the menu, comes without ``?c=``:
    the conversation on screen goes on, it is not split in two."""
    at = ask(start(), BREST_QUESTION)
    conversation = at.query_params["c"]
    del at.query_params["c"]  # the address as the browser still had it
    at = ask(at, "et à Nantes ?")
    assert at.query_params["c"] == conversation
    assert [t.question for t in turns(at)] == [BREST_QUESTION, "et à Nantes ?"]
    stored = store_of(app_env).get_conversation(conversation, LOCAL_USER)
    assert [t.question for t in stored.turns] == [BREST_QUESTION, "et à Nantes ?"]
    store_of(app_env).delete_conversation(conversation, LOCAL_USER)  # from another tab
    del at.query_params["c"]
    at.run()
    assert not at.exception and not turns(at) and "c" not in at.query_params
    assert any("introuvable" in unescape(i.value) for i in at.info)


def test_a_question_interrupted_before_it_was_stored_is_answered_first(app_env: Path) -> None:
    """A question sent while an answer is being written makes Streamlit stop that run:
    the interrupted question stays waiting (as if the run had stopped mid-answer) and is
    answered and stored before the new one, in order, nothing lost."""
    at = start()
    at.session_state["chat"].waiting.append(Pending(BREST_QUESTION))  # the run that was stopped
    at = ask(at, "et à Nantes ?")
    assert [t.question for t in turns(at)] == [BREST_QUESTION, "et à Nantes ?"]
    assert at.session_state["chat"].waiting == []
    stored = store_of(app_env).get_conversation(at.query_params["c"], LOCAL_USER)
    assert [t.question for t in stored.turns] == [BREST_QUESTION, "et à Nantes ?"]
    assert "Brest" in stored.turns[1].standalone_question  # the follow-up read the first answer


def test_a_waiting_question_does_not_follow_the_user_to_another_conversation(app_env: Path) -> None:
    first = ask(start(), BREST_QUESTION)
    other = first.query_params["c"]
    at = start()
    at.session_state["chat"].waiting.append(Pending("Comment améliorer l'accueil des usagers ?"))
    at.query_params["c"] = other  # the user opened another conversation in the sidebar
    at.run()
    assert not at.exception and [t.question for t in turns(at)] == [BREST_QUESTION]
    assert at.session_state["chat"].waiting == []


def test_unknown_conversation_id_opens_a_new_one_with_a_notice(app_env: Path) -> None:
    at = start(c="inconnu123")
    assert any("introuvable" in unescape(i.value) for i in at.info)
    assert "c" not in at.query_params and not turns(at)
    at = ask(at, BREST_QUESTION)
    assert at.query_params["c"] != "inconnu123"


def test_new_rename_search_and_delete(app_env: Path) -> None:
    at = ask(start(), "Comment améliorer l'accueil des usagers ?")
    conversation = at.query_params["c"]
    at.button(key="new_conversation").click().run()
    assert "c" not in at.query_params and not turns(at)
    at = start(c=conversation)
    at.text_input(key="rename_title").input("Accueil : pistes").run()
    at.button(key="rename").click().run()
    assert store_of(app_env).get_conversation(conversation, LOCAL_USER).title == "Accueil : pistes"
    at.text_input(key="conversation_search").input("pistes").run()
    listed = [unescape(m.value) for m in at.sidebar.markdown if "(ouverte)" in m.value]
    assert listed and "Accueil : pistes" in listed[0]
    assert at.button(key="delete").disabled  # a checkbox confirms first
    at.checkbox(key="delete_sure").check().run()
    at.button(key="delete").click().run()
    assert "c" not in at.query_params and not turns(at)
    assert all(c.id != conversation for c in store_of(app_env).list_conversations(LOCAL_USER))


def test_a_long_title_is_cut_after_the_date_in_the_sidebar_list(app_env: Path) -> None:
    """The list entry's label is one line clipped at the sidebar's edge: the date comes
    first, the title is cut (« … ») and whole in the tooltip."""
    long_title = ("Accueil des usagers en mairie : comment réorganiser le hall, former les agents et installer une "
                  "borne d'accueil mobile pour les familles, les personnes âgées et les usagers très éloignés du "
                  "numérique.")
    assert len(long_title) == 200
    store = store_of(app_env)
    conversations = [store.create_conversation(LOCAL_USER, title=title) for title in (long_title, "Court")]
    for conversation in conversations:
        store.add_turn(conversation.id, LOCAL_USER, answer("Comment améliorer l'accueil ?"))
    at = start()
    links = {link.proto.query_string: link.proto for link in at.sidebar.get("page_link")}
    long_link, short_link = (links[f"c={c.id}"] for c in conversations)
    date = r"\d\d/\d\d \d\d:\d\d · "
    assert re.fullmatch(date + r"Accueil des usagers en mairie : comment …", unescape(long_link.label))
    assert unescape(long_link.help) == long_title
    assert re.fullmatch(date + "Court", unescape(short_link.label))
    at = start(c=conversations[0].id)  # open: its entry wraps, the tooltip holds the whole title
    opened = next(m for m in at.sidebar.markdown if "(ouverte)" in m.value)
    assert re.fullmatch(rf"\*\*▸ {date}Accueil des usagers en mairie : comment …\*\* \(ouverte\)",
                        unescape(opened.value)) and unescape(opened.proto.help) == long_title
    for conversation in conversations:
        store.delete_conversation(conversation.id, LOCAL_USER)


def test_clicked_citation_opens_the_viewer_with_the_sentence_highlighted(app_env: Path) -> None:
    first = ask(start(), BREST_QUESTION)
    turn = turns(first)[-1]
    at = start(c=first.query_params["c"], cite=f"{turn.id}-1")  # the link opens in a new tab
    assert "cite" not in at.query_params  # handled once: a rerun does not reopen it
    texts = [unescape(m.value) for m in at.markdown]
    assert f"# {BREST_TITLE}" in texts  # the dialog's own outline starts at level 1
    cited = turn.answer.citations[0]
    assert any(t.startswith("## ▶ ") and cited.section in t for t in texts)
    marked = [i.value for i in at.info if ":orange-background[**" in i.value]
    assert len(marked) == 1, [i.value for i in at.info]
    sentence = unescape(marked[0].split(":orange-background[**", 1)[1].split("**]", 1)[0])
    assert sentence and sentence in turn.answer.answer  # the extractive answer quotes it


def test_card_button_opens_the_whole_fiche(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    turn = turns(at)[-1]
    first = turn.answer.sources[0]
    at.button(key=f"open_{turn.id}_{first.n}").click().run()
    assert not at.exception
    texts = [unescape(m.value) for m in at.markdown]
    assert f"# {BREST_TITLE}" in texts
    for section in ("Description", "Enjeux", "Réalisations"):
        assert any(t in (f"## {section}", f"## ▶ {section} — section citée") for t in texts), section
    assert any("Partenaires associés" in t and "Agence DETEA" in t for t in texts)
    assert at.info, "the cited section is highlighted"


def test_sidebar_filter_changes_the_sources(app_env: Path) -> None:
    question = "Comment améliorer l'accueil des usagers ?"
    at = ask(start(), question)
    unfiltered = card_facts(at)
    at.pills(key="filter_commune").set_value("Nantes").run()
    at = ask(at, question)
    filtered = card_facts(at)
    assert filtered and all("Ville : Nantes" in fact for fact in filtered), filtered
    assert filtered != unfiltered
    assert turns(at)[-1].answer.filters == {"commune": "Nantes"} and turns(at)[-1].inferred == {}


def test_inferred_filter_chip_removed_asks_again_without_it(app_env: Path, caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Streamlit warns (with a stack dump in the server log) when a widget has both a
    # default and a value set through the session state; it does so once per process,
    # so its flag is put back to a fresh server's state. Its logger does not propagate.
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    streamlit_log = logging.getLogger(policies.__name__)
    monkeypatch.setattr(streamlit_log, "handlers", [*streamlit_log.handlers, caplog.handler])
    at = ask(start(), "Quelles initiatives d'accueil à Nantes ?")
    turn = turns(at)[-1]
    assert turn.inferred == {"commune": "Nantes"}
    assert all("Ville : Nantes" in fact for fact in card_facts(at))
    chips = at.pills(key=f"inferred_{turn.id}")
    assert chips.value == ["Commune : Nantes"]
    chips.set_value([]).run()
    assert not at.exception
    again = turns(at)
    assert len(again) == 2 and again[1].answer.filters == {} and again[1].inferred == {}
    assert again[1].question == turn.question
    assert at.pills(key=f"inferred_{turn.id}").value == ["Commune : Nantes"]  # the first answer keeps its chip
    assert any("Ville : Nantes" not in fact for fact in card_facts(at))
    assert not [r.getMessage() for r in caplog.records if r.name == policies.__name__]


def test_example_chip_asks_the_example(app_env: Path) -> None:
    at = start()
    example = at.pills(key="example")
    example.set_value(example.options[0]).run()
    assert not at.exception
    assert len(turns(at)) == 1 and turns(at)[0].answer.answer and turns(at)[0].answer.sources


def test_feedback_goes_to_the_database_and_the_retours_page(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    turn = turns(at)[-1]
    at.feedback(key=f"rating_{turn.id}").set_value(0)  # 👎
    at.pills(key=f"reasons_{turn.id}").set_value(["Incomplet", "Mauvaise source"])
    at.text_input(key=f"comment_{turn.id}").input("Il manque les horaires")
    at.button(key=f"FormSubmitter:feedback_{turn.id}-Envoyer l'avis").click().run()
    assert not at.exception
    record = next(f for f in store_of(app_env).list_feedback(LOCAL_USER) if f.turn_id == turn.id)
    assert (record.rating, record.reasons, record.comment) == ("down", ["Incomplet", "Mauvaise source"],
                                                                "Il manque les horaires")
    shown = " ".join(unescape(c.value) for c in at.caption)
    assert "Votre avis : pas utile (Incomplet, Mauvaise source)" in shown and "avis a été enregistré" in shown

    retours = start("pages/2_Retours.py")
    headings = [unescape(m.value) for m in retours.markdown if m.value.startswith("## ")]
    assert any(h.startswith(f"## {BREST_TITLE} (") for h in headings), headings  # by initiative cited
    assert any(h.startswith("## Incomplet (") for h in headings)  # by reason
    links = [m.value for m in retours.markdown if "Ouvrir la conversation" in m.value]
    assert f"[Ouvrir la conversation](/?c={at.query_params['c']})" in links
    assert retours.selectbox(key=f"expected_i_{BREST}_{turn.id}").value == BREST


def test_a_long_question_is_cut_in_its_retours_heading_and_shown_whole(app_env: Path) -> None:
    long_question = "Comment accueillir " + "les usagers en mairie et ailleurs " * 40 + "?"
    store = store_of(app_env)
    conversation = store.create_conversation(LOCAL_USER)
    turn = store.add_turn(conversation.id, LOCAL_USER, answer(long_question))
    store.add_feedback(turn.id, LOCAL_USER, "down", ["Incomplet"])
    retours = start("pages/2_Retours.py")
    headings = [unescape(m.value) for m in retours.markdown if m.value.startswith("### Comment accueillir")]
    assert headings and all(len(h) < 200 and h.endswith("…") for h in headings)
    assert any(unescape(m.value) == long_question for m in retours.markdown)
    store.delete_conversation(conversation.id, LOCAL_USER)


def test_rating_without_thumb_is_refused_readably(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    turn = turns(at)[-1]
    at.button(key=f"FormSubmitter:feedback_{turn.id}-Envoyer l'avis").click().run()
    assert any("Choisissez un pouce" in unescape(w.value) for w in at.warning)
    assert all(f.turn_id != turn.id for f in store_of(app_env).list_feedback(LOCAL_USER))


def test_database_fault_still_answers_and_says_nothing_is_saved(app_env: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"ceci n'est pas une base SQLite" * 100)
    monkeypatch.setenv("RAG_DATABASE_URL", f"sqlite:///{broken}")
    at = ask(start(), BREST_QUESTION)
    assert turns(at) and turns(at)[-1].answer.answer and not turns(at)[-1].saved
    warnings = " ".join(unescape(w.value) for w in at.warning)
    assert "rien n'est enregistré" in warnings and "endommagée" in warnings
    assert "[1]" in assistant_texts(at)[0] and "cite=" not in assistant_texts(at)[0]  # no stored link
    assert any("n'a pas été enregistrée" in unescape(c.value) for c in at.caption)
    at = ask(at, "Et quels partenaires ont participé ?")  # the tab keeps its own copy
    assert len(turns(at)) == 2


def test_bad_database_url_still_answers(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATABASE_URL", "mysql://somewhere/db")
    at = ask(start(), BREST_QUESTION)
    assert turns(at)[-1].answer.answer and not turns(at)[-1].saved
    assert any("RAG_DATABASE_URL invalide" in unescape(w.value) for w in at.warning)
    retours = start("pages/2_Retours.py")
    assert retours.error and "RAG_DATABASE_URL invalide" in unescape(retours.error[0].value)


def test_oidc_login_files_conversations_under_the_user(app_env: Path) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "rag", "client_secret": "s",
                          "server_metadata_url": "https://proconnect.example/.well-known/openid-configuration"}
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Se connecter"] and not at.chat_input  # nobody anonymous
    claims = {"is_logged_in": True, "iss": "https://proconnect.example", "sub": "agent-42", "name": "Agent 42"}
    at.user = claims
    at.run()
    at = ask(at, BREST_QUESTION)
    user = user_id_from_claims(claims)
    conversation = at.query_params["c"]
    assert store_of(app_env).get_conversation(conversation, user).turns
    assert all(c.id != conversation for c in store_of(app_env).list_conversations(LOCAL_USER))
    assert any("Connecté : Agent 42" in c.value for c in at.sidebar.caption)


def test_export_holds_the_conversation_as_the_cli_exports_it(app_env: Path) -> None:
    at = ask(start(), BREST_QUESTION)
    export = at.session_state["chat"].markdown()  # what the download button holds
    assert "## 1. " in export and "### Sources citées" in export
    assert unescape(f"[1] {BREST_TITLE} › ") in unescape(export)
    assert "https://www.a-brest.net/article22276.html" in export
    assert not at.sidebar.get("download_button")[0].proto.disabled
    stored = store_of(app_env).get_conversation(at.query_params["c"], LOCAL_USER)
    cli = conversation_markdown(stored)  # ``conversations export ID --format md``
    assert export[export.index("\n## 1. "):] == cli[cli.index("\n## 1. "):]  # the same turns, fresh or stored
    at.run()  # the next run reads the conversation back: its title is known
    export = at.session_state["chat"].markdown()
    assert export.startswith(f"# {stored.title}\n\nConversation {stored.id}, exportée le ")


def test_export_file_is_named_from_the_title_and_the_day(app_env: Path) -> None:
    assert start().session_state["chat"].export_name() == "conversation.md"  # nothing asked: no title
    at = ask(start(), BREST_QUESTION)
    conversation = at.query_params["c"]
    stored = store_of(app_env).get_conversation(conversation, LOCAL_USER)
    day = stored.created_at.astimezone().strftime("%Y-%m-%d")
    name = at.session_state["chat"].export_name()  # the run that created it already knows its title
    assert name.startswith("conversation-comment-la-mairie-de-brest-a-t-elle-") and name.endswith(f"-{day}.md")
    assert name.isascii() and len(name) < 90, name
    store_of(app_env).rename_conversation(conversation, LOCAL_USER, "Borne d’accueil mobile : Saint-Étienne ?")
    at.run()
    assert at.session_state["chat"].export_name() == f"conversation-borne-d-accueil-mobile-saint-etienne-{day}.md"


def test_llm_answer_streams_with_citations_renumbered(llm_env: FakeLLMServer) -> None:
    llm_env.queue(Scenario(tokens=["La mairie ", "a réaménagé ", "son hall [2], avec l'agence [1]."]))
    at = ask(start(), BREST_QUESTION)
    turn = turns(at)[-1]
    assert turn.answer.answer == "La mairie a réaménagé son hall [1], avec l'agence [2]."  # [1] cited first
    assert [s.n for s in turn.cited] == [1, 2] and card_titles(at)[0].startswith("[1] ")
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "RAG\\_LLM\\_API\\_KEY" in sidebar or "RAG_LLM_API_KEY" in sidebar
    assert "hors ligne" not in sidebar  # the openai backend needs the network
    shown = [*(m.value for m in at.markdown), *(c.value for c in at.caption),
             *(t.value for t in at.text_input), *(e.value for e in at.error)]
    assert "sk-test-SECRET-456" not in json.dumps(shown)


def test_each_question_is_timed_from_its_own_answering(llm_env: FakeLLMServer) -> None:
    """The chat's timings count from that question's answering, as the API and the CLI
    count from the request: a question waiting behind a slow answer does not count it."""
    llm_env.queue(Scenario(delay=2.0, tokens=["La mairie a réaménagé son hall [1]."]))  # the first is slow
    at = start()
    at.session_state["chat"].waiting.append(Pending(BREST_QUESTION))  # interrupted, answered first
    at = ask(at, "Quelles initiatives accompagnent les usagers vers le numérique ?")
    slow, quick = turns(at)
    assert slow.timings.total_ms >= 2000  # the server's delay is in it
    assert quick.timings.total_ms < slow.timings.total_ms, (quick.timings, slow.timings)
    stored = store_of(load_settings().data_dir).get_conversation(at.query_params["c"], LOCAL_USER)
    assert [t.timings for t in stored.turns] == [slow.timings, quick.timings]


def test_failing_backend_shows_error_and_keeps_sources(llm_env: FakeLLMServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    llm_env.queue(Scenario(status=500, error="boom"))
    at = ask(start(), BREST_QUESTION)
    assert llm_env.chat_hits()[-1].headers.get("Authorization") == "Bearer sk-test-SECRET-456"
    assert "sk-test-SECRET-456" not in caplog.text
    message = unescape(at.error[0].value)
    assert "openai" in message and "500" in message, message
    assert card_titles(at), "the retrieved sources stay visible"
    assert not at.exception and "Traceback" not in json.dumps([m.value for m in at.markdown])


def test_not_covered_state_lists_the_closest_initiatives(app_env: Path) -> None:
    at = start()
    at.pills(key="filter_commune").set_value("Quimper").run()
    at.pills(key="filter_echelle").set_value("Département").run()  # no such fiche
    at = ask(at, "Comment améliorer l'accueil ?")
    turn = turns(at)[-1]
    assert turn.answer.abstained and turn.answer.sources
    assert any("Non couvert" in w.value for w in at.warning)
    assert "## Initiatives les plus proches" in assistant_texts(at)
    assert len(card_titles(at)) == len(turn.answer.sources)


def test_long_question_notice_and_empty_question(app_env: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_MAX_QUESTION_CHARS", "100")
    at = ask(start(), "Comment améliorer l'accueil en mairie ? " * 20)
    assert any("Question trop longue" in unescape(i.value) for i in at.info)
    assert turns(at)[-1].answer.sources
    at = ask(at, "   \x00  ")  # no turn (an empty bubble that vanished at the next run): a hint
    assert any("question vide" in unescape(w.value).lower() for w in at.warning)
    assert len(turns(at)) == 1 and len(at.chat_message) == 2


def test_injection_fiche_renders_inert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus_with_injection(tmp_path / "fiches")))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    monkeypatch.setenv("RAG_BACKEND", "extractive")
    at = ask(start(), INJECTION_QUESTION)
    turn = turns(at)[-1]
    hostile = next(s for s in turn.answer.sources if s.fiche_id == "guichet-piege-de-quimperle")
    assert hostile.url == ""
    at.button(key=f"open_{turn.id}_{hostile.n}").click().run()
    shown = [m.value for m in at.markdown] + [i.value for i in at.info] + [c.value for c in at.caption]
    visible = "\n".join(unescape(v) for v in shown)
    assert "<script>window.__pwned='script'</script>" in visible  # shown as text
    for value in shown:
        if "](http" not in value and "](?c=" not in value and ":orange-background[**" not in value:
            assert not unescaped_markup(value), value
    assert all(not m.proto.allow_html for m in at.markdown)


@pytest.mark.parametrize("page", ["app.py", "pages/1_Catalogue.py", "pages/2_Retours.py"])
def test_page_headings_have_no_anchor_link(app_env: Path, page: str) -> None:
    """Streamlit adds to a title or subheader a link labelled in English ("Link to
    heading"), an extra tab stop before the content; the app's other headings have none."""
    at = start(page)
    headings = [*at.title, *at.subheader]
    assert at.title and not [h.value for h in headings if not h.proto.hide_anchor]


def test_catalogue_page_browse_search_charts_with_tables_compare(app_env: Path) -> None:
    at = start("pages/1_Catalogue.py")
    fiches = lambda: [unescape(e.label) for e in at.expander if not e.label.startswith("Données")]  # noqa: E731
    assert len(fiches()) == 10
    at.text_input[0].input("Brest").run()
    assert BREST_TITLE in fiches() and len(fiches()) < 10
    assert len(at.get("vega_lite_chart")) == 4  # région, échelle, type d'acteur, ville
    assert len(at.table) == 4  # each chart's data as a table
    region = next(t.value for t in at.table if "Bretagne" in list(t.value.index))
    assert int(region.loc["Bretagne", "Fiches"]) == 4
    at.multiselect(key="compare").set_value([BREST, "co-conception-de-la-mairie-de-nantes-sud"]).run()
    assert not at.exception
    headings = [unescape(m.value) for m in at.markdown if m.value.startswith("### ")]
    assert "### Description" in headings and "### Enjeux" in headings


def _profile_state() -> None:
    """AppTest script: is the shared Services' index checked and the abstention profile
    already built?"""
    import streamlit as st

    from rag.answer.abstention import profile_key
    from rag.ui.services import get_app_services

    app = get_app_services()
    built = app.services.fiches.has_derived(profile_key(app.services.settings.embedder))
    st.write(f"ready={app.ready} profile={built}")


def test_the_first_page_load_preloads_what_the_first_question_needs(app_env: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))  # a Services of its own, never used before
    before = AppTest.from_function(_profile_state, default_timeout=TIMEOUT).run()
    assert not before.exception, [e.value for e in before.exception]
    assert before.markdown[0].value == "ready=False profile=False"  # the check can fail
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "fresh"))
    start()
    after = AppTest.from_function(_profile_state, default_timeout=TIMEOUT).run()
    assert after.markdown[0].value == "ready=True profile=True"
