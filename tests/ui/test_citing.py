"""Clickable citations and the cited sentence: links built from safe Markdown, the
``cite`` parameter parsed strictly, the sentence found in the passage and highlighted in
the fiche without letting corpus text become markup."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from rag.ui.citing import cite_href, cited_sentence, linked_answer, locate, parse_cite
from rag.ui.sources import HIGHLIGHT, highlighted
from tests.support.ui_fixtures import unescape, unescaped_markup

PASSAGE = ("La mairie a ouvert un guichet unique en 2019. Les agents ont été formés à l'accueil. "
           "Un espace d'attente a été aménagé avec des jeux pour enfants.")


def test_only_cited_numbers_become_links() -> None:
    href = lambda n: cite_href("Conv1", "Turn1", n)  # noqa: E731
    shown = linked_answer("Un guichet unique [1] et des agents formés [2]. Voir [3].", {1, 2}, href)
    assert '[\\[1\\]](?c=Conv1&cite=Turn1-1 "Ouvrir la source 1 dans la fiche")' in shown
    assert "(?c=Conv1&cite=Turn1-2 " in shown
    assert "Voir \\[3\\]." in shown  # not a cited source: plain text


def test_answer_markup_stays_inert_around_links() -> None:
    shown = linked_answer("<img src=x onerror=alert(1)> [x](javascript:y) [1]", {1}, lambda n: f"?cite=t-{n}")
    without_links = shown.replace('[\\[1\\]](?cite=t-1 "Ouvrir la source 1 dans la fiche")', "")
    assert not unescaped_markup(without_links)
    assert linked_answer("voir [1]", {1}, None) == "voir \\[1\\]"


@pytest.mark.parametrize("value,parsed", [
    ("Turn1-3", ("Turn1", 3)), ("abc-12", ("abc", 12)), ("", None), (None, None), ("Turn1", None),
    ("Turn1-x", None), ("../etc-1", None), ("a-1-2", None), ("a-1234", None),
])
def test_cite_parameter_is_parsed_strictly(value: str | None, parsed: tuple[str, int] | None) -> None:
    assert parse_cite(value) == parsed


def test_cited_sentence_is_the_one_the_answer_rests_on() -> None:
    answer = "Les agents ont été formés [1]. Un espace pour enfants existe [2]."
    assert cited_sentence(answer, 1, PASSAGE) == "Les agents ont été formés à l'accueil."
    paraphrase = "Les familles attendent dans un espace aménagé avec des jeux [1]."
    assert cited_sentence(paraphrase, 1, PASSAGE).startswith("Un espace d'attente")
    assert cited_sentence(answer, 3, PASSAGE) is None  # [3] not in the answer
    assert cited_sentence("Sans rapport aucun [1].", 1, PASSAGE) is None
    listed = "- Des agents formés à l'accueil.\n- Un espace d'attente aménagé."
    assert cited_sentence(answer, 1, listed) == "Des agents formés à l'accueil."  # without the list marker


def test_the_sentence_is_highlighted_where_it_lies() -> None:
    text = "Premier point.\nLes agents   ont été\nformés à l'accueil. Suite *importante* [lien](javascript:x)."
    assert locate("Les agents ont été formés à l'accueil.", text) == (15, 55)
    marked = highlighted(text, "Les agents ont été formés à l'accueil.")
    assert marked is not None and f":{HIGHLIGHT}[**Les agents" in marked
    outside = marked.replace(f":{HIGHLIGHT}[**", "").replace("**]", "")
    assert not unescaped_markup(outside) and "\\*importante\\*" in outside
    assert "formés à l'accueil." in unescape(marked)
    assert highlighted(text, "Une phrase absente.") is None and highlighted(text, None) is None


def _viewer(cited: bool) -> None:
    """A page opening the viewer on passage 1 (run by AppTest: imports inside)."""
    from rag.catalogue.fiche import Fiche
    from rag.types import Source
    from rag.ui.sources import open_passage

    text = ("La mairie a ouvert un guichet unique en 2019. Les agents ont été formés à l'accueil. "
            "Un espace d'attente a été aménagé avec des jeux pour enfants.")
    fiche = Fiche(id="guichet", title="Guichet unique", sections={"Description": text, "Enjeux": "Attendre moins."})
    source = Source(n=1, fiche_id="guichet", title="Guichet unique", section="Description", text=text, url="",
                    cited=cited)
    open_passage(source, fiche, "Les agents sont formés à l'accueil [1].")


@pytest.mark.parametrize("cited", [True, False])
def test_the_viewer_opens_on_the_passage_with_the_cited_sentence_marked(cited: bool) -> None:
    """One way to open a passage (a card's button and a clicked ``[n]``): its section
    boxed, and the sentence the answer rests on marked, only for a source it cites."""
    at = AppTest.from_function(_viewer, args=(cited,)).run()
    assert not at.exception, [e.value for e in at.exception]
    boxed = [unescape(i.value) for i in at.info]
    assert len(boxed) == 1 and "guichet unique en 2019" in boxed[0]  # the passage's section, not « Enjeux »
    marked = [i.value for i in at.info if f":{HIGHLIGHT}[**" in i.value]
    if cited:
        assert len(marked) == 1 and "Les agents ont été formés" in unescape(marked[0].split("[**", 1)[1])
    else:
        assert not marked
