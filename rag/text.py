"""Text normalisation shared by retrieval, the extractive backend and the hashing
embedder: accent folding and the French (and common English) stop words.

One definition, so that BM25, question cleaning, filters and the extractive backend
compare words the same way ("Numérique", "numerique" and "NUMÉRIQUE" are one word).
"""

from __future__ import annotations

import html
import re
import unicodedata

from rag.errors import InputError


def fold(text: str) -> str:
    """Casefolded, without accents: ``"Numérique"`` -> ``"numerique"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_spaced(text: str) -> str:
    """:func:`fold` with hyphens, dashes and underscores as spaces: the form in which
    BM25, filters and question cleaning compare words ("Saint-Malo" is "saint malo")."""
    return re.sub(r"[-‐–—_]+", " ", fold(text))


def squash(text: str) -> str:
    """:func:`fold_spaced` with punctuation as spaces and blanks collapsed: the form in
    which filter values and place names are compared ("Saint-Méen-le-Grand" is
    "saint meen le grand")."""
    return " ".join(re.sub(r"[^\w]+", " ", fold_spaced(text)).split())


def stop_words(words: str) -> frozenset[str]:
    """The folded words of a blank-separated list."""
    return frozenset(fold(word) for word in words.split())


CORE_STOP_WORDS = stop_words("""
a à au aux avec c ce ces cet cette d dans de des du elle en est et été être il ils j l la
le les leur lui m ma mais me même mes n ne nos notre nous on ou où par pas pour qu que qui
s sa se ses son sont sur t ta te tes toi ton tu un une vos votre vous y
""")
"""The commonest French function words (articles, pronouns, prepositions, être)."""

COMMON_STOP_WORDS = CORE_STOP_WORDS | stop_words("""
afin ai aie ainsi alors aussi autre avant avoir ça car ceci cela celle celles celui ceux
chaque ci comme comment donc dont elles encore entre eu fait faire font je leurs moi mon ni
ont or parce peu peut plus pourquoi quand quel quelle quelles quels quoi sans si sous tous
tout toute toutes très vers
the of and or to in on for with what which how who is are do does there any
""")
"""French and common English function words, dropped by BM25 and the extractive backend
alike (each adds its own few)."""


LEXICAL_STOP_WORDS: frozenset[str] = COMMON_STOP_WORDS | stop_words("""
aient auquel autres avait avaient ayant était étaient eux sien
was were did that this these those about from by an be as at it its some can
""")
"""What BM25 drops: the common stop words and a few more (French and English)."""


EXTRACTIVE_STOP_WORDS = COMMON_STOP_WORDS | stop_words("""
après aucun avez chez deux doit hors jusqu non peuvent tel telle via
initiative initiatives projet projets action actions catalogue fiche fiches exemple exemples
existe existent exister lister liste listez citez cite donne donnez quelqu quelque quelques
""")
"""The common stop words, a few more French ones, and words every question about the
catalogue shares, which say nothing about the subject."""

ENGLISH_STOP_WORDS = stop_words("""
how why what when where who whom which while they them their you your we our us he she his her its it i
me my do does did done doing came come comes get got make made have has had be been being is are was
were will would can could should may might must a an the this that these those there here from into
with without about over under more most some such than then too very just also only same so not no all
any both each few other up down out off during before after between through until against per via
""")
"""English function words: what abstention ignores when it asks whether the catalogue
knows a question's words (an English question is not unknown for its "why")."""

FOLLOWUP_GENERIC = stop_words("initiative initiatives projet projets action actions quel quels")
"""Words a follow-up's carried subject leaves out: they name no subject."""

QUESTION_GENERIC = stop_words(
    "initiative initiatives projet projets action actions fiche fiches demarche demarches "
    "experience experiences retours retour mene menes menee menees porte portes qui quel quels "
    "quelle quelles catalogue"
)
"""Words every question about the catalogue may use: what abstention ignores when it
asks whether anything besides names is asked."""


HTML_ELEMENTS = frozenset("""
a abbr article aside audio b big blockquote body br button caption center cite code col colgroup dd del details
dfn div dl dt em embed fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hr html i
iframe img input ins kbd label legend li link main mark meta nav noscript object ol option p picture pre q s
samp section select small source span strike strong style sub summary sup svg table tbody td textarea tfoot th
thead time title tr tt u ul var video wbr
""".split())
"""The HTML element names :func:`strip_markup` removes: « <Brest> » or « x<y and y>z »
are the user's words, not tags."""
_ELEMENTS = "|".join(sorted(HTML_ELEMENTS, key=len, reverse=True))
_MARKUP = re.compile(rf"<!--.*?-->|<(script|style)\b[^<>]*>.*?</\1\s*>|</?(?:{_ELEMENTS})(?:[\s/][^<>]*)?>",
                     re.DOTALL | re.IGNORECASE)


def strip_markup(text: str) -> str:
    """``text`` without HTML tags and comments (a script or style element with its
    content), entities decoded when there were tags: a question pasted from a web page or
    an e-mail (« <b>accueil</b> &amp; mairie ») is searched for its words, not for ``b``
    and ``amp``. Only :data:`HTML_ELEMENTS` count as tags; a lone ``<`` or ``>`` (« moins
    de <10 min ») stays."""
    stripped = _MARKUP.sub(" ", text)
    return html.unescape(stripped) if stripped != text else text


def clean_question(raw: object, max_chars: int) -> tuple[str, list[str]]:
    """Strip HTML markup (said in a notice), control characters and extra blanks;
    truncate an over-long question.

    Returns the question and French notices for the user. Empty -> :class:`InputError`.
    """
    if not isinstance(raw, str):
        raise InputError("la question doit être du texte")
    unmarked = strip_markup(raw)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in unmarked)
    text = " ".join(text.split())
    if not text:
        raise InputError("question vide : posez une question sur le catalogue, par ex. « initiatives à Nantes »")
    notices = ["Balises HTML retirées de la question (texte collé d'une page web ?)."] if unmarked != raw else []
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
        notices.append(f"Question trop longue : seuls ses {max_chars} premiers caractères ont été pris en compte.")
    return text, notices


def excerpt(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary with " …" past ``limit`` characters:
    how the chat's cards and the API's sources show a passage."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"
