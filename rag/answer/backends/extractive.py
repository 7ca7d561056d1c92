"""``extractive``: the offline default. No LLM: the answer is made of sentences quoted
from the ranked passages, grouped by initiative, each followed by its ``[n]``.

A sentence's relevance is its lexical overlap with the question after French
normalisation (lowercase, stop words, Snowball stemming, accent folding), each shared
term weighted by its rarity among the candidate sentences (so "accueil", everywhere in
this catalogue, counts little). The top passage is always quoted, the retriever having
ranked it first; when no sentence shares a word with the question (an English question,
a paraphrase), the lead sentence of each of the first :data:`LEADS` initiatives is quoted,
in the retriever's order, rather than one guess. "Which initiatives..." questions get one line per matching initiative.

The metadata passage ("Acteur : … Ville : Brest.") is quoted only when the question asks
about metadata (who, partner, town, contact, link…) or for a question word that no
content passage holds (a partner's name): otherwise "Ville : Brest." would stand in for
an answer about what the initiative did.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher

import Stemmer
from pydantic import BaseModel, ConfigDict, Field

from rag.answer.backends import register
from rag.answer.backends.base import Backend
from rag.index.chunking import METADATA_SECTION
from rag.text import EXTRACTIVE_STOP_WORDS as STOP_WORDS
from rag.text import fold
from rag.types import GenerationRequest, Passage

NOT_COVERED = "Le catalogue ne couvre pas cette question : aucune fiche pertinente n'a été trouvée.\n"
LIST_INTRO = "Initiatives du catalogue qui correspondent à la question :\n"
LEADS = 3
"""Initiatives quoted (one lead sentence each) when no sentence shares a question word."""
LIST_MIN_SHARE = 0.5
"""In a "which initiatives" list, an initiative is named when its best sentence scores at
least this share of the best one: "tester" alone must not list a fiche beside one that
matches "borne d'accueil mobile"."""
NEAR_DUPLICATE = 0.9
"""Two sentences of one fiche this similar (difflib ratio) are one: exports repeat a
paragraph with a typo, and quoting both says nothing more. Across fiches, similar
sentences are distinct evidence and are both kept."""

LIST_QUESTION = re.compile(
    r"\b(quel(le)?s (sont )?(les )?(initiatives?|projets?|actions?|acteurs?|structures?|experiences?|fiches?)"
    r"|which (initiatives|projects)|list(e|er|ez)?\b|enumer|citez|"
    r"(existe|a)[- ]t[- ]il des (initiatives|projets|actions))"
)
"""A "which initiatives..." question (matched on the accent-folded lowercase question)."""

METADATA_QUESTION = re.compile(
    r"^(qui|who)\b|\bqui (contacter|porte|mene|pilote)|\b(acteurs?|porteurs?|portee?s?|partenaires?|partenariat"
    r"|partners?|villes?|city|town|communes?|localis\w*|situee?s?|contact\w*|joindre|e?mail|courriel"
    r"|telephone|liens?|link|site|url|web|auteur|author|echelle|scale|mots? clefs?|keywords?)\b"
)
"""A question about an initiative's metadata (matched on the accent-folded lowercase question)."""

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"“(0-9A-ZÀ-Ý])")
_BULLET = re.compile(r"^[\s\-–—•*#>]+")
_TAG = re.compile(r"<[^>]{0,200}>")
_CITATION_LIKE = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"\w+")
_local = threading.local()


def terms(text: str) -> set[str]:
    """The content terms of a text: stop words removed, stemmed, accent-folded."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:  # a Stemmer object is not thread-safe: one per thread
        stemmer = _local.stemmer = Stemmer.Stemmer("french")
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 and fold(w) not in STOP_WORDS]
    return {fold(stem) for stem in stemmer.stemWords(words)}


def clean(sentence: str, max_chars: int) -> str:
    """A sentence safe to quote: no markup, no bullet, no "[n]"-like text, bounded length."""
    text = _CITATION_LIKE.sub(r"(\1)", _TAG.sub(" ", sentence))
    text = " ".join(_BULLET.sub("", text).split()).strip(" \"'")
    if len(text) > max_chars:
        text = text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"
    return text


@dataclass
class Sentence:
    """A quotable sentence of a passage, its content terms and its relevance score."""

    passage: Passage
    position: int
    text: str
    terms: set[str]
    score: float = 0.0


def split_sentences(passage: Passage, max_chars: int) -> list[Sentence]:
    """The quotable sentences (3 words or more) of a passage, in order."""
    found: list[Sentence] = []
    for line in passage.chunk.text.splitlines():
        for raw in _SENTENCE_END.split(line):
            text = clean(raw, max_chars)
            if len(text.split()) >= 3:
                found.append(Sentence(passage, len(found), text, terms(text)))
    return found


def score_sentences(question: set[str], sentences: list[Sentence]) -> None:
    """Score each sentence by the rarity-weighted question terms it contains."""
    df = {t: sum(t in s.terms for s in sentences) for t in question}
    weight = {t: math.log(1 + len(sentences) / n) for t, n in df.items() if n}
    for sentence in sentences:
        sentence.score = sum(w for t, w in weight.items() if t in sentence.terms)


def near_duplicate(sentence: Sentence, chosen: list[Sentence]) -> bool:
    """Whether ``sentence`` repeats (nearly letter for letter) one already chosen from
    the same fiche."""
    text = fold(sentence.text)
    return any(other.passage.chunk.fiche_id == sentence.passage.chunk.fiche_id
               and SequenceMatcher(None, text, fold(other.text)).ratio() >= NEAR_DUPLICATE
               for other in chosen)


def leads(per_passage: dict[int, list[Sentence]]) -> list[Sentence]:
    """The first sentence of the best passage of each of the first :data:`LEADS` initiatives."""
    chosen: dict[str, Sentence] = {}
    for sentences in per_passage.values():
        if sentences and len(chosen) < LEADS:
            chosen.setdefault(sentences[0].passage.chunk.fiche_id, sentences[0])
    return list(chosen.values())


def drop_idle_metadata(per_passage: dict[int, list[Sentence]], question: set[str]) -> dict[int, list[Sentence]]:
    """Keep a metadata passage's sentences only when they hold a question term that no
    content passage holds (e.g. a partner named only in the metadata)."""
    content = set().union(*(s.terms for ss in per_passage.values() for s in ss
                            if s.passage.chunk.section != METADATA_SECTION))
    only_there = question - content
    return {n: [s for s in ss if s.passage.chunk.section != METADATA_SECTION or s.terms & only_there]
            for n, ss in per_passage.items()}


class ExtractiveOptions(BaseModel):
    """How much to quote."""

    model_config = ConfigDict(extra="forbid")

    max_sentences: int = Field(8, ge=1, le=50)
    max_per_passage: int = Field(2, ge=1, le=10)
    max_sentence_chars: int = Field(320, ge=40)


@register
class ExtractiveBackend(Backend):
    """Quotes the passages; needs neither a model nor the network."""

    name = "extractive"
    Options = ExtractiveOptions
    uses_llm = False
    needs_network = False
    options: ExtractiveOptions

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        per_passage = self._candidates(request)
        if not any(per_passage.values()):
            yield NOT_COVERED
            return
        if LIST_QUESTION.search(fold(request.question)):
            yield from self._list_initiatives(per_passage)
        else:
            yield from self._grouped(self._select(per_passage))

    def _candidates(self, request: GenerationRequest) -> dict[int, list[Sentence]]:
        """Passage number -> its scored sentences, in rank order."""
        per_passage = {p.n: split_sentences(p, self.options.max_sentence_chars) for p in request.passages}
        question = terms(request.question)
        if not METADATA_QUESTION.search(fold(request.question)):
            per_passage = drop_idle_metadata(per_passage, question)
        score_sentences(question, [s for ss in per_passage.values() for s in ss])
        return per_passage

    def _select(self, per_passage: dict[int, list[Sentence]]) -> list[Sentence]:
        """Relevant sentences, no repeats, ``max_sentences`` in all, taken breadth-first:
        every relevant passage gets its best sentence before any gets a second one (up to
        ``max_per_passage``, and only if it scores at least half the best sentence). The
        first quotable passage is always quoted; with no relevant sentence at all, the
        :func:`leads` are. Returned in rank then text order."""
        ranked = [sorted((s for s in sentences if s.score > 0), key=lambda s: (-s.score, s.position))
                  for sentences in per_passage.values()]
        if not any(ranked):
            return leads(per_passage)
        first = next((i for i, sentences in enumerate(per_passage.values()) if sentences), None)
        if first is not None and not ranked[first]:
            ranked[first] = list(per_passage.values())[first][:1]
        chosen: list[Sentence] = []
        top = max((s.score for sentences in ranked for s in sentences), default=0.0)
        for turn in range(self.options.max_per_passage):
            for sentences in ranked:
                if turn < len(sentences) and len(chosen) < self.options.max_sentences:
                    extra_but_weak = turn > 0 and sentences[turn].score < top / 2
                    if not extra_but_weak and not near_duplicate(sentences[turn], chosen):
                        chosen.append(sentences[turn])
        order = {n: rank for rank, n in enumerate(per_passage)}
        return sorted(chosen, key=lambda s: (order[s.passage.n], s.position))

    def _grouped(self, chosen: list[Sentence]) -> Iterator[str]:
        """One block per initiative (in rank order): a bold title, then the quoted sentences."""
        groups: dict[str, list[Sentence]] = {}
        for sentence in chosen:
            groups.setdefault(sentence.passage.chunk.fiche_id, []).append(sentence)
        for index, sentences in enumerate(groups.values()):
            yield f"{'' if index == 0 else chr(10)}**{clean(sentences[0].passage.chunk.title, 200)}**\n"
            for sentence in sentences:
                yield f"- {sentence.text} [{sentence.passage.n}]\n"

    def _list_initiatives(self, per_passage: dict[int, list[Sentence]]) -> Iterator[str]:
        """Each initiative once, with its best sentence: those whose best sentence scores
        at least :data:`LIST_MIN_SHARE` of the best one, or all of them when none shares a
        term with the question."""
        best: dict[str, Sentence] = {}
        for sentences in per_passage.values():
            for sentence in sentences:
                fiche = sentence.passage.chunk.fiche_id
                if fiche not in best or sentence.score > best[fiche].score:
                    best[fiche] = sentence
        top = max(s.score for s in best.values())
        matching = [s for s in best.values() if s.score >= LIST_MIN_SHARE * top] if top > 0 else list(best.values())
        yield LIST_INTRO
        for sentence in matching:
            title = clean(sentence.passage.chunk.title, 200)
            yield f"- **{title}** : {sentence.text} [{sentence.passage.n}]\n"
