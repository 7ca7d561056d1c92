"""Citation verification: every [n] shown maps to a given passage, on whole and streamed text."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    shown = {int(n) for n in re.findall(r"\[(\d{1,3})\]", check.text)}
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


# ---------------------------------------------------------------- every form a model writes

FORMS = [  # (what a model wrote, what is shown) with passages 1, 2, 3 given
    ("Accueil [1][2].", "Accueil [1][2]."),
    ("Accueil [1, 2].", "Accueil [1][2]."),
    ("Accueil [1 et 3].", "Accueil [1][3]."),
    ("Accueil [1-3].", "Accueil [1][2][3]."),
    ("Accueil 【1】.", "Accueil [1]."),
    ("Accueil 【2†source】.", "Accueil [2]."),
    ("Accueil ［3］.", "Accueil [3]."),
    ("Accueil [Source 1].", "Accueil [1]."),
    ("Accueil [source 1, source 2].", "Accueil [1][2]."),
    ("Accueil [PASSAGE n° 2].", "Accueil [2]."),
    ("Accueil (passage 1).", "Accueil [1]."),
    ("Accueil (Sources 1 et 3).", "Accueil [1][3]."),
    ("Accueil [^1].", "Accueil [1]."),
    ("Accueil[^2][^3].", "Accueil[2][3]."),
    ("Passage 1 : accueil.", "Passage [1] : accueil."),
    ("Selon la source 2, accueil.", "Selon la source [2], accueil."),
    ("Voir les passages 1 et 2.", "Voir les passages [1][2]."),
    ("Accueil (voir SOURCE 3)", "Accueil (voir SOURCE [3])"),
]
UNKNOWN = [  # unknown numbers are removed and reported
    ("Accueil [Source 9].", "Accueil.", [9]),
    ("Accueil (passage 7) ici.", "Accueil ici.", [7]),
    ("Accueil 【9】【1】.", "Accueil [1].", [9]),
    ("Selon le passage 8, accueil.", "Selon le passage, accueil.", [8]),
    ("Accueil [^4][2].", "Accueil [2].", [4]),
]
NOT_CITATIONS = ["Le passage 2 fois par mois d'un conseiller.", "Une ressource 2.", "En 2020 [2020].",
                 "Étape (1) puis (2).", "Source : INSEE.", "les sources 12345.", "Le passage à niveau."]


@pytest.mark.parametrize(("written", "shown"), FORMS)
def test_every_form_becomes_a_verified_number(written: str, shown: str) -> None:
    check = verify_citations(written, {1, 2, 3})
    assert check.text == shown and check.removed == []
    assert check.cited == [int(n) for n in dict.fromkeys(re.findall(r"\[(\d)\]", shown))]


@pytest.mark.parametrize(("written", "shown", "removed"), UNKNOWN)
def test_unknown_numbers_in_any_form_are_removed(written: str, shown: str, removed: list[int]) -> None:
    check = verify_citations(written, {1, 2, 3})
    assert (check.text, check.removed) == (shown, removed)


@pytest.mark.parametrize("text", NOT_CITATIONS)
def test_text_that_only_looks_like_a_citation_is_untouched(text: str) -> None:
    check = verify_citations(text, {1, 2, 3})
    assert check.text == text and check.cited == [] and check.removed == []


def streamed(text: str, cuts: tuple[int, ...], valid: set[int]) -> tuple[str, CitationStream]:
    """What the stream shows when ``text`` arrives cut at ``cuts``."""
    stream = CitationStream(valid)
    bounds = [0, *cuts, len(text)]
    shown = "".join(stream.feed(text[a:b]) for a, b in itertools.pairwise(bounds)) + stream.finish()
    return shown, stream


@pytest.mark.parametrize("text", [w for w, _ in FORMS] + [w for w, _, _ in UNKNOWN] + NOT_CITATIONS)
def test_every_form_split_at_every_pair_of_positions_streams_the_final_text(text: str) -> None:
    whole = verify_citations(text, {1, 2, 3})
    for cuts in itertools.combinations(range(1, len(text)), 2):
        shown, stream = streamed(text, cuts, {1, 2, 3})
        assert shown == whole.text == stream.check.text, cuts
        assert (stream.check.cited, stream.check.removed) == (whole.cited, whole.removed), cuts


PIECES = [w for w, _ in FORMS] + [w for w, _, _ in UNKNOWN] + NOT_CITATIONS + [
    " ", "\n", " [", "]", "[1", "passage", " 2", ", ", " et ", "Source", "(", ")", "【", "】", "^", "res", "x"]


@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12), st.data())
def test_any_mix_of_forms_streams_exactly_the_final_text(pieces: list[str], data: st.DataObject) -> None:
    text = "".join(pieces)
    cuts = tuple(sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=8))))
    valid = data.draw(st.sets(st.integers(1, 4), max_size=4))
    whole = verify_citations(text, valid)
    shown, stream = streamed(text, cuts, valid)
    assert shown == whole.text == stream.check.text
    assert (stream.check.cited, stream.check.removed) == (whole.cited, whole.removed)
    assert set(map(int, re.findall(r"\[(\d+)\]", shown))) - {2020} <= valid


def test_stream_holds_only_what_may_become_a_citation() -> None:
    stream = CitationStream({2})
    assert stream.feed("Selon le pas") == "Selon le"
    assert stream.feed("sage 2") == ""
    assert stream.feed(", l'accueil 【") == " passage [2], l'accueil"
    assert stream.feed("7】 change") == " change"
    assert stream.feed(" le passage 2 fois") == " le passage 2 fois"
    assert stream.finish() == "" and stream.check.removed == [7]
