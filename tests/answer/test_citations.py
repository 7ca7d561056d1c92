"""Citation verification: every [n] shown maps to a given passage, on whole and streamed text."""

from __future__ import annotations

import itertools

import pytest

from rag.answer.citations import CitationStream, verify_citations

TEXT = ("Selon la fiche [1], l'accueil [9] a changé [1, 2]. Voir aussi [2][7] et [3-4] ; "
        "en 2020 [2020] un [renvoi] reste tel quel [ 2 ].\nFin [8][1].")


def test_valid_citations_kept_unknown_removed_and_reported() -> None:
    check = verify_citations(TEXT, {1, 2, 3})
    assert check.cited == [1, 2, 3]
    assert check.removed == [9, 7, 4, 8]
    assert "[9]" not in check.text and "[7]" not in check.text and "[8]" not in check.text
    assert "l'accueil a changé [1][2]." in check.text  # the removed group takes its space along
    assert "Voir aussi [2] et [3] ;" in check.text
    assert "[2020]" in check.text and "[renvoi]" in check.text  # not citations: untouched
    assert check.text.endswith("Fin [1].")


def test_every_number_shown_is_a_given_passage() -> None:
    check = verify_citations(TEXT, {2})
    shown = {int(n) for n in __import__("re").findall(r"\[(\d{1,3})\]", check.text)}
    assert shown == {2}


def test_order_of_first_appearance_and_no_duplicates() -> None:
    check = verify_citations("b [3] a [1] c [3][1] [1, 1]", {1, 3})
    assert check.cited == [3, 1]
    assert check.text == "b [3] a [1] c [3][1] [1]"


def test_range_is_bounded() -> None:
    check = verify_citations("x [1-999]", {1, 2})
    assert check.cited == [1] and check.removed == [999]


def url_like(word: str) -> bool:
    """Hold every unfinished word (the pipeline holds only those that may become a link)."""
    return bool(word)


def mask(text: str) -> str:
    return text.replace("https://floodcrm.email/offre", "[lien retiré]").replace("floodcrm.email", "[lien retiré]")


@pytest.mark.parametrize("hold", [None, url_like])
def test_stream_shows_exactly_the_final_text_whatever_the_chunking(hold) -> None:  # noqa: ANN001
    expected = verify_citations(TEXT, {1, 2, 3}).text
    for cuts in itertools.combinations(range(1, len(TEXT), 2), 2):
        stream = CitationStream({1, 2, 3}, hold=hold)
        parts = [TEXT[: cuts[0]], TEXT[cuts[0]: cuts[1]], TEXT[cuts[1]:]]
        shown = "".join(stream.feed(p) for p in parts) + stream.finish()
        assert shown == expected == stream.check.text, parts
    assert stream.check.removed == [9, 7, 4, 8]


def test_stream_token_by_token_masks_whole_links() -> None:
    text = "Voir https://floodcrm.email/offre [1] ou flood" + "crm.email ici [5]."
    stream = CitationStream({1}, transform=mask, hold=url_like)
    pieces = [stream.feed(ch) for ch in text] + [stream.finish()]
    assert "".join(pieces) == "Voir [lien retiré] [1] ou [lien retiré] ici."
    assert not any("flood" in piece for piece in pieces)
    assert stream.check.cited == [1] and stream.check.removed == [5]


def test_stream_releases_text_at_once_and_holds_only_open_groups() -> None:
    stream = CitationStream({1})
    assert stream.feed("Bonjour le mon") == "Bonjour le mon"
    assert stream.feed("de [") == "de"
    assert stream.feed("1") == ""
    assert stream.feed("] fin") == " [1] fin"
    assert stream.finish() == ""
    held = CitationStream({1}, hold=lambda word: word.startswith("www"))
    assert held.feed("Voir www.exa") == "Voir"
    assert held.feed("mple.fr et") == " www.example.fr et"
