"""rag.text: the one accent fold, the layered stop-word sets and the question cleaning."""

import pytest

from rag.errors import InputError
from rag.text import (
    COMMON_STOP_WORDS,
    CORE_STOP_WORDS,
    EXTRACTIVE_STOP_WORDS,
    LEXICAL_STOP_WORDS,
    clean_question,
    fold,
    fold_spaced,
    stop_words,
)


def test_fold_casefolds_and_strips_accents():
    assert fold("NUMÉRIQUE Numérique numerique") == "numerique numerique numerique"
    assert fold("Straße") == "strasse"  # casefold, not lower
    assert fold("Saint-Malo") == "saint-malo"


def test_fold_spaced_turns_hyphens_and_underscores_into_spaces():
    assert fold_spaced("Saint-Malo — e_mail") == "saint malo   e mail"


def test_stop_words_are_folded_and_layered():
    assert stop_words("Été très") == {"ete", "tres"}
    assert CORE_STOP_WORDS < COMMON_STOP_WORDS < LEXICAL_STOP_WORDS
    assert COMMON_STOP_WORDS < EXTRACTIVE_STOP_WORDS
    assert "initiative" in EXTRACTIVE_STOP_WORDS and "initiative" not in LEXICAL_STOP_WORDS
    assert "avait" in LEXICAL_STOP_WORDS and "avait" not in EXTRACTIVE_STOP_WORDS


def test_clean_question() -> None:
    assert clean_question("  a\x00b\x07 c\n\td  ", 100) == ("a b c d", [])
    text, notices = clean_question("mot " * 100, 50)
    assert len(text) <= 50 and not text.endswith(" ") and "50 premiers caractères" in notices[0]
    for bad in ["", " \n", "\x00", None, "<br/>", "<p></p>"]:
        with pytest.raises(InputError):
            clean_question(bad, 100)


@pytest.mark.parametrize(("raw", "clean"), [
    ("<b>borne</b> d'accueil <i>mobile</i>", "borne d'accueil mobile"),
    ('<p class="x">accueil &amp; mairie&nbsp;?</p>', "accueil & mairie ?"),
    ("<!-- note -->Brest<br>Nantes<BR/>Quimper", "Brest Nantes Quimper"),
    ("<script>alert(1)</script> CDAS <style>p {color: red}</style>", "CDAS"),
    ('<a href="https://x.fr">France Services</a>', "France Services"),
])
def test_clean_question_strips_markup_and_says_so(raw: str, clean: str) -> None:
    assert clean_question(raw, 500) == (clean, ["Balises HTML retirées de la question (texte collé d'une page web ?)."])


@pytest.mark.parametrize("typed", [
    "attente de moins de <10 min et > 5 min", "a < b et c > d", "accueil &amp; mairie",  # no tag: as typed
    "Que fait <Brest> ?", "parlent de <France Services> ?", "x<y and y>z", "<3", "x <= y", "1<2>3",
])
def test_words_in_angle_brackets_are_the_users(typed: str) -> None:
    assert clean_question(typed, 500) == (typed, [])
