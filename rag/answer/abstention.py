"""When to answer "le catalogue ne couvre pas cela" instead of answering.

Cheap signals, each explainable to the user:

* **A name the catalogue lacks.** A proper noun or acronym of the question (a capitalised
  word that does not start a sentence, or an all-caps word: "Marseille", "CAF") that
  appears nowhere in the catalogue (titles, sections, metadata; case and accents
  ignored). The catalogue then has nothing on that city, body or person, however close
  the rest of the question is to some fiche ("accueil en mairie de Marseille").
* **Weak retrieval evidence.** The dense cosine similarity of the best passage of the
  whole index is below ``settings.abstain_threshold`` (or the value calibrated for the
  embedder in :data:`CALIBRATED`). Cosine is comparable across questions (fused and BM25
  scores are not); the threshold is calibrated on ``eval/dev.jsonl`` by
  ``bench/calibrate_abstention.py``, which prints the margin on both sides.
* **Unless the words are there.** A weak cosine is overruled when the retrieved passages
  contain most of the question's content words (:func:`lexical_support`, weighted by
  rarity): short keyword questions ("Vis ma vie et session créative") embed poorly but
  are plainly covered. Paraphrases and English questions share few words with the text,
  so the lexical signal can only confirm coverage, never refuse.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from rag.answer.evidence import terms
from rag.catalogue.catalogue import Catalogue, fiche_texts
from rag.catalogue.fiche import METADATA_FIELDS, SECTIONS
from rag.index.embeddings import Embedder
from rag.text import ENGLISH_STOP_WORDS, EXTRACTIVE_STOP_WORDS, LEXICAL_STOP_WORDS, QUESTION_GENERIC, fold_spaced

_WORD = re.compile(r"[\w'’-]+")
_FUNCTION_WORDS = LEXICAL_STOP_WORDS | ENGLISH_STOP_WORDS
"""Pronouns and other stop words are never names, even capitalised mid-sentence."""
_KEY_SKIP = _FUNCTION_WORDS | EXTRACTIVE_STOP_WORDS | QUESTION_GENERIC
"""Words never key words of a question (see :func:`key_words`)."""
_SENTENCE_START = re.compile(r"(?:^|[.!?«\"(\[]\s*)$")
"""What may precede a sentence's first word (after ":" French goes on in lowercase)."""

NO_WORDS = ("La question ne contient aucun mot à chercher dans le catalogue : dites ce que vous cherchez "
            "(par exemple « Quelles initiatives ont testé une borne d'accueil mobile ? »).")


@dataclass(frozen=True)
class Decision:
    """``abstain`` and, when so, a French sentence saying why (shown to the user)."""

    abstain: bool
    reason: str = ""


def proper_names(question: str) -> list[str]:
    """Capitalised words not starting a sentence, and all-caps words (2+ letters).
    A question typed in capitals has no telling names: none are returned."""
    letters = [c for c in question if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) > len(letters) / 2:
        return []
    names = []
    for match in _WORD.finditer(question):
        word = re.split(r"['’]", match.group(0).strip("'’-"))[-1]  # "l'Agence" -> "Agence"
        if len(word) < 2 or not word[0].isalpha():
            continue
        capitalised = (word[0].isupper() and not _SENTENCE_START.search(question[: match.start()])
                       and fold_spaced(word) not in _FUNCTION_WORDS)  # « … le hall Je voudrais … »
        if word.isupper() or capitalised:
            names.append(word)
    return names


def unknown_names(question: str, fiches: Catalogue) -> list[str]:
    """The question's proper names that appear nowhere in the catalogue."""
    vocabulary = fiches.vocabulary
    return [name for name in proper_names(question)
            if not all(w in vocabulary for w in re.findall(r"\w+", fold_spaced(name)))]


CALIBRATED: dict[str, float] = {"use": 0.169}
"""Embedder name -> threshold on the best dense cosine, from ``bench/calibrate_abstention.py``
(midpoint of the gap between covered and not-covered dev questions)."""

def threshold_for(settings) -> float:  # noqa: ANN001 - rag.config.Settings
    """``RAG_ABSTAIN_THRESHOLD`` when set (> 0), else the value calibrated for the embedder."""
    return settings.abstain_threshold or CALIBRATED.get(settings.embedder, 0.0)


def _name_words(question: str) -> set[str]:
    """Every folded word of the question's proper names (« Saint-Méen » -> saint, meen)."""
    return {word for name in proper_names(question) for word in re.findall(r"\w+", fold_spaced(name))}


def residual_words(question: str) -> list[str]:
    """What the question asks besides names and generic words ("initiatives à Saint-Méen-le-Grand" -> [])."""
    names = _name_words(question)
    words = re.findall(r"\w+", fold_spaced(question))
    return [w for w in words
            if w not in LEXICAL_STOP_WORDS and w not in QUESTION_GENERIC and w not in names and len(w) > 1]


def prejudge(question: str, fiches: Catalogue, *, filtered: bool = False) -> Decision | None:
    """The decision when names settle it, else ``None`` (the cosine decides): abstain on
    a name the catalogue lacks; answer a question that is only known names or a matched
    filter ("initiatives à Quimper", "projets de l'Agence Grrr"), whose generic words
    would make any cosine look weak; abstain on a question without a word to look for
    ("a", "???", emoji), which any passage would otherwise "answer"."""
    missing = unknown_names(question, fiches)
    if missing:
        quoted = ", ".join(f"« {name} »" for name in dict.fromkeys(missing))
        return Decision(True, f"Aucune fiche du catalogue ne mentionne {quoted}.")
    if (filtered or proper_names(question)) and not residual_words(question):
        return Decision(False)
    if not terms(question) - ENGLISH_STOP_WORDS:
        return Decision(True, NO_WORDS)
    return None


def top_cosine(retriever, question: str, filters: dict[str, str]) -> float | None:  # noqa: ANN001
    """The best dense cosine over the whole (filtered) index: the hybrid top-k may not
    hold the best dense passage, so this is one extra dense search of depth 1."""
    hits = retriever.search(question, k=1, mode="dense", filters=filters or None)
    return hits[0].score if hits else None


SUPPORTED = 0.8
"""Share of the question's content-word weight found in the passages that confirms
coverage whatever the cosine (not-covered dev and holdout questions stay under 0.4)."""


def lexical_support(question: str, chunks: Iterable, lexical) -> float:  # noqa: ANN001 - LexicalIndex
    """The IDF-weighted share of the question's content terms (stemmed, minus stop words,
    generic words and names) that occur in the given chunks; 0.0 with no content term.
    A rare word found counts more than a common one ("accueil" is everywhere)."""
    skip = set(lexical.terms(" ".join([*QUESTION_GENERIC, *proper_names(question)])))
    terms = [t for t in dict.fromkeys(lexical.terms(question)) if t not in skip]
    if not terms:
        return 0.0
    found: set[str] = set()
    for chunk in chunks:
        found.update(lexical.terms(chunk.indexed_text))
    weights = {t: lexical.idf(t) for t in terms}
    return sum(w for t, w in weights.items() if t in found) / sum(weights.values())


def by_cosine(best: float | None, threshold: float, support: float = 0.0) -> Decision:
    """Abstain when the best cosine is under ``threshold`` (``None``: nothing found),
    unless the lexical ``support`` reaches :data:`SUPPORTED`."""
    if (best is None or best < threshold) and support < SUPPORTED:
        return Decision(True, "Les passages trouvés sont trop éloignés de la question pour y répondre.")
    return Decision(False)


# ------------------------------------------------------------------ sentence-level signals

NEIGHBOUR = 0.75
"""A question word missing from the catalogue counts as known when the embedder puts a
catalogue word this close ("emergency" ~ "urgence" 0.87, "furniture" ~ "mobilier" 0.88):
English questions are not unknown for being English."""
HEAD_NEIGHBOUR = 0.70
"""The same for the head concept (:data:`HEAD_RATIO`), calibrated with it on dev: at 0.75
« moment » and « inscriptions » of a covered paraphrase (« le standard est saturé … »)
were unknown, and it could not be told from « accueil des touristes »."""
UNKNOWN_SHARE = 0.75
"""Abstain when at least this share of the question's key words (two or more) is unknown
to the catalogue, and the best quote is not close to the question (:data:`WEAK_QUOTE`)."""
WEAK_QUOTE = 0.35
HEAD_RATIO = 2.0
"""Abstain when the share of the question's *specific* words (its head concept: key words
that fewer than half of the fiches hold, two or more) unknown to the catalogue is at
least this many times the best quote's cosine. Midpoint of the dev gap (covered at most
1.87, not covered at least 2.14: ``bench/calibrate_abstention.py``)."""
OFF_THEME = 0.08
"""Abstain when the question's cosine with the catalogue's theme (the centroid of its
fiches' titles and descriptions) is under this, half its key words are unknown, and the
best quote is weak (:data:`OFF_THEME_QUOTE`)."""
OFF_THEME_QUOTE = 0.30
MAX_WORDS = 20000
"""Catalogue words embedded for the neighbour look-up (alphabetical cut beyond)."""


@dataclass(frozen=True)
class Profile:
    """What abstention derives once per catalogue and embedder: the catalogue's folded
    words and stems (its field labels too) with the number of fiches each occurs in, the
    words embedded for the neighbour look-up and their vectors, and the centroid of its
    themes."""

    frequency: dict[str, int]
    fiches: int
    neighbours: list[str]
    vectors: np.ndarray
    centroid: np.ndarray

    def knows(self, word: str) -> bool:
        """A folded word of the catalogue, one with catalogue stems (« securite »), or two
        catalogue words run together (« multicanal »)."""
        if word in self.frequency or all(stem in self.frequency for stem in terms(word)):
            return True
        return any(word[:i] in self.frequency and word[i:] in self.frequency for i in range(4, len(word) - 3))

    def spread(self, word: str) -> int:
        """In how many fiches the word (or its stem) occurs."""
        return max([self.frequency.get(word, 0), *(self.frequency.get(stem, 0) for stem in terms(word))])


def profile(fiches: Catalogue, embedder: Embedder) -> Profile:
    """The catalogue's :class:`Profile`, built on first use and cached in the catalogue
    (about 2 s for the bundled one with ``use``)."""
    return fiches.derived(profile_key(embedder.name), lambda: _build_profile(fiches, embedder))


def profile_key(embedder: str) -> str:
    """The name under which the catalogue keeps the profile for the embedder ``embedder``
    (``fiches.has_derived(profile_key(…))``: is it built yet?)."""
    return f"abstention-profile:{embedder}"


def _build_profile(fiches: Catalogue, embedder: Embedder) -> Profile:
    labels = " ".join([*METADATA_FIELDS, *SECTIONS])  # "Échelle d'action" labels every fiche's metadata
    frequency: Counter[str] = Counter()
    for fiche in fiches.values():
        text = fold_spaced(" ".join([*fiche_texts(fiche), labels]))
        words = set(re.findall(r"\w+", text))
        frequency.update(words | terms(text))
    neighbours = sorted(w for w in fiches.vocabulary if len(w) >= 4 and not w.isdigit())[:MAX_WORDS]
    vectors = embedder.embed_documents(neighbours) if neighbours else np.zeros((0, 1), dtype=np.float32)
    themes = [f"{f.title}. {f.sections.get('Description', '')[:300]}" for f in list(fiches.values())[:500]]
    mean = embedder.embed_documents(themes).mean(axis=0) if themes else np.zeros(1, dtype=np.float32)
    norm = float(np.linalg.norm(mean))
    return Profile(dict(frequency), len(fiches), neighbours, vectors, mean / norm if norm else mean)


def key_words(question: str) -> list[str]:
    """The question's content words: not stop words (French or English), not generic
    catalogue words, not proper names (names have their own check), 3 letters or more."""
    names = _name_words(question)
    return [w for w in re.findall(r"\w+", fold_spaced(question))
            if len(w) >= 3 and not w.isdigit() and w not in _KEY_SKIP and w not in names]


def unknown_words(words: list[str], known: Profile, embedder: Embedder,
                  neighbour: float = NEIGHBOUR) -> dict[str, float]:
    """The words neither the catalogue (:meth:`Profile.knows`) nor a neighbour this close
    has, each with its nearest catalogue word's cosine."""
    missing = [w for w in words if not known.knows(w)]
    if not missing or not len(known.neighbours):
        return dict.fromkeys(missing, 0.0)
    vectors = embedder.embed_documents(missing)
    nearest = (vectors @ known.vectors.T).max(axis=1)
    return {w: float(best) for w, best in zip(missing, nearest, strict=True) if best < neighbour}


@dataclass(frozen=True)
class Signals:
    """The sentence-level signals of one question (see :func:`by_signals`): its unknown
    key words and their share, the best quote's cosine, the theme cosine, and the share
    of its head concept (specific words) that is unknown."""

    unknown: list[str]
    share: float
    quote: float
    theme: float
    head_share: float = 0.0
    head_unknown: list[str] = field(default_factory=list)


def signals(question: str, fiches: Catalogue, embedder: Embedder, quote: float) -> Signals:
    """``quote``: the best evidence that a retrieved sentence says what is asked (the
    higher of the best sentence's and the best passage's cosine with the question)."""
    known = profile(fiches, embedder)
    words = list(dict.fromkeys(key_words(question)))
    nearest = unknown_words(words, known, embedder, max(NEIGHBOUR, HEAD_NEIGHBOUR))
    unknown = [w for w, cosine in nearest.items() if cosine < NEIGHBOUR]
    share = len(unknown) / len(words) if len(words) >= 2 else 0.0
    head = [w for w in words if known.spread(w) < known.fiches / 2]
    head_unknown = [w for w in head if nearest.get(w, 1.0) < HEAD_NEIGHBOUR]
    head_share = len(head_unknown) / len(head) if len(head) >= 2 else 0.0
    theme = float(np.asarray(embedder.embed_query(question)) @ known.centroid)
    return Signals(unknown, share, quote, theme, head_share, head_unknown)


def by_signals(found: Signals) -> Decision | None:
    """Abstain on unknown vocabulary, an unknown head concept, or an off-theme question,
    each against the best quote; ``None``: these signals do not settle it (the cosine
    rule does)."""
    quoted = ", ".join(f"« {w} »" for w in dict.fromkeys(found.unknown))
    if found.share >= UNKNOWN_SHARE and found.quote < WEAK_QUOTE:
        return Decision(True, f"Le catalogue n'emploie pas les mots de la question ({quoted}), ni de mots proches.")
    if found.head_share > 0 and found.head_share >= HEAD_RATIO * found.quote:
        head = ", ".join(f"« {w} »" for w in found.head_unknown)
        return Decision(True, f"Le sujet de la question ({head}) n'apparaît dans aucune fiche, "
                              "et les passages les plus proches parlent d'autre chose.")
    if found.theme < OFF_THEME and found.share >= 0.5 and found.quote < OFF_THEME_QUOTE:
        return Decision(True, "La question sort des thèmes du catalogue (l'accueil des usagers dans les "
                              f"services publics) : {quoted} n'y figurent pas.")
    return None
