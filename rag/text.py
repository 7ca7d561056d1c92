"""Text normalisation shared by retrieval, the extractive backend and the hashing
embedder: accent folding and the French (and common English) stop words.

One definition, so that BM25, question cleaning, filters and the extractive backend
compare words the same way ("Numérique", "numerique" and "NUMÉRIQUE" are one word).
"""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Casefolded, without accents: ``"Numérique"`` -> ``"numerique"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold_spaced(text: str) -> str:
    """:func:`fold` with hyphens, dashes and underscores as spaces: the form in which
    BM25, filters and question cleaning compare words ("Saint-Malo" is "saint malo")."""
    return re.sub(r"[-‐–—_]+", " ", fold(text))


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
