"""``extractive``: the offline default. No LLM: the answer is made of sentences quoted
from the ranked passages, grouped by initiative, each followed by its ``[n]``.

Which initiatives: each sentence is scored by how well it answers the question
(:mod:`rag.answer.evidence`: the share of the question's key terms it holds, weighted by
rarity, its embedder similarity to the question, and its passage's retrieval scores).
An initiative is quoted only when its best sentence scores within :data:`MARGIN` of the
best sentence of all: sharing one word ("accueil", "expérimentation") with the question
is not enough to be named beside the initiative that did it. "Which initiatives…"
questions get one line per such initiative; a question that names only a place
("initiatives dans le 29") lists every initiative of that place.

A question about a detail the passages do not give (a phone number, a budget, a rate, a
count) answers « La fiche … ne précise pas … » with the fiche's contact, then the
closest quotes (:mod:`rag.answer.details`).

The metadata passage ("Acteur : … Ville : Brest.") is quoted only when the question asks
about metadata (who, partner, town, contact, link…) or for a question word that no
content passage holds (a partner's name): otherwise "Ville : Brest." would stand in for
an answer about what the initiative did.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from difflib import SequenceMatcher

from pydantic import BaseModel, ConfigDict, Field

from rag.answer.backends import register
from rag.answer.backends.base import Backend
from rag.answer.details import missing_detail
from rag.answer.evidence import SENTENCE_CHARS, clean, score_sentences, split_sentences, terms
from rag.index.chunking import METADATA_SECTION
from rag.search.filters import has_place
from rag.text import QUESTION_GENERIC, fold
from rag.types import GenerationRequest, Sentence

NOT_COVERED = "Le catalogue ne couvre pas cette question : aucune fiche pertinente n'a été trouvée.\n"
LIST_INTRO = "Initiatives du catalogue qui correspondent à la question :\n"
MARGIN = 0.3
"""An initiative is quoted when its best sentence scores at least the best score minus
this (scores add coverage, similarity and rank, each in [0, 1]; calibrated on
``eval/dev.jsonl`` with ``bench/eval_answers.py``)."""
LIST_MARGIN = 0.45
"""The wider margin of a plural "which initiatives…" question, whose answer is a set:
leaving out one that did it costs as much as naming one that did not."""
NEAR_DUPLICATE = 0.9
"""Two sentences of one fiche this similar (difflib ratio) are one: exports repeat a
paragraph with a typo, and quoting both says nothing more. Across fiches, similar
sentences are distinct evidence and are both kept."""

_PLURAL_NOUN = r"(?:initiatives|projets|actions|demarches|experiences|acteurs|structures|fiches|retours|projects)"
LIST_QUESTION = re.compile(
    r"^(?:initiatives|projets|actions|demarches|experiences|retours d.experience)\b"
    rf"|\b(?:quel(?:le)?s|which)\s+(?:\w+\s+){{0,2}}?{_PLURAL_NOUN}\b"
    r"|\b(?:listez|lister|citez|enumere[rz]?)\b|\b(?:existe|a)[- ]t[- ]il des\b"
)
"""A question asking for a set of initiatives (matched on the accent-folded lowercase
question): « quelles initiatives / quels projets / dans quels projets … », « which
projects … », « listez … », « existe-t-il des … », or one that starts with the plural
(« projets de l'Agence Grrr », « retours d'expérience sur … »; not « fiches navettes … »,
a subject). Its answer is a list, and its initiatives are kept within :data:`LIST_MARGIN`:
leaving out one that did it costs as much as naming one that did not."""

METADATA_QUESTION = re.compile(
    r"^(qui|who)\b|\bqui (contacter|porte|mene|pilote)|\b(acteurs?|porteurs?|portee?s?|partenaires?|partenariat"
    r"|partners?|villes?|city|town|communes?|localis\w*|situee?s?|contact\w*|joindre|e?mail|courriel"
    r"|telephone|liens?|link|site|url|web|auteur|author|echelle|scale|mots? clefs?|keywords?)\b"
)
"""A question about an initiative's metadata (matched on the accent-folded lowercase question)."""


def near_duplicate(sentence: Sentence, chosen: list[Sentence]) -> bool:
    """Whether ``sentence`` repeats (nearly letter for letter) one already chosen from
    the same fiche."""
    text = fold(sentence.text)
    return any(other.passage.chunk.fiche_id == sentence.passage.chunk.fiche_id
               and SequenceMatcher(None, text, fold(other.text)).ratio() >= NEAR_DUPLICATE
               for other in chosen)


def drop_idle_metadata(per_passage: dict[int, list[Sentence]], question: set[str]) -> dict[int, list[Sentence]]:
    """Keep a metadata passage's sentences only when they hold a question term that no
    content passage holds (e.g. a partner named only in the metadata)."""
    content = set().union(*(s.terms for ss in per_passage.values() for s in ss
                            if s.passage.chunk.section != METADATA_SECTION))
    only_there = question - content
    return {n: [s for s in ss if s.passage.chunk.section != METADATA_SECTION or s.terms & only_there]
            for n, ss in per_passage.items()}


def best_per_fiche(per_passage: dict[int, list[Sentence]]) -> dict[str, Sentence]:
    """Each initiative's best sentence (ties: the earlier passage), in rank order."""
    best: dict[str, Sentence] = {}
    for sentences in per_passage.values():
        for sentence in sentences:
            fiche = sentence.passage.chunk.fiche_id
            if fiche not in best or sentence.score > best[fiche].score:
                best[fiche] = sentence
    return best


def only_place(request: GenerationRequest, question: set[str], per_passage: dict[int, list[Sentence]]) -> bool:
    """A place filter, and no question term (besides the place's words) that some
    candidate initiatives hold and others lack: the question asks what was done there."""
    if not has_place(request.filters):
        return False
    place_words = terms(" ".join([*request.filters.values(), *QUESTION_GENERIC]))  # "retours d'expérience"
    held: dict[str, set[str]] = {}
    for sentences in per_passage.values():
        for sentence in sentences:
            held.setdefault(sentence.passage.chunk.fiche_id, set()).update(sentence.terms)
    return not any(0 < sum(t in words for words in held.values()) < len(held) for t in question - place_words)


class ExtractiveOptions(BaseModel):
    """How much to quote, and the margins (see :data:`MARGIN`, :data:`LIST_MARGIN`)."""

    model_config = ConfigDict(extra="forbid")

    max_sentences: int = Field(8, ge=1, le=50)
    max_per_passage: int = Field(2, ge=1, le=10)
    max_sentence_chars: int = Field(SENTENCE_CHARS, ge=40)
    margin: float = Field(MARGIN, ge=0.0, le=4.0)
    list_margin: float = Field(LIST_MARGIN, ge=0.0, le=4.0)


@register
class ExtractiveBackend(Backend):
    """Quotes the passages; needs neither a model nor the network."""

    name = "extractive"
    Options = ExtractiveOptions
    uses_llm = False
    needs_network = False
    options: ExtractiveOptions

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        question, folded = terms(request.question), fold(request.question)
        per_passage = self._candidates(request, question, folded)
        best = best_per_fiche(per_passage)
        if not best:
            yield NOT_COVERED
            return
        if only_place(request, question, per_passage):
            yield from self._list_initiatives(list(best.values()))
            return
        top = max(s.score for s in best.values())
        listing = bool(LIST_QUESTION.search(folded))
        margin = self.options.list_margin if listing else self.options.margin
        chosen = {f: s for f, s in best.items() if s.score >= top - margin}
        lacking = missing_detail(request.question, [p for p in request.passages
                                                    if p.chunk.fiche_id == next(iter(chosen))])
        if lacking:
            yield lacking
        if listing and not lacking:
            yield from self._list_initiatives(list(chosen.values()))
        else:
            yield from self._grouped(self._select(per_passage, set(chosen), top))

    def _candidates(self, request: GenerationRequest, question: set[str], folded: str) -> dict[int, list[Sentence]]:
        """Passage number -> its scored sentences, in rank order (``question``: its
        terms, ``folded``: its folded text). The sentences the pipeline already split
        (``request.sentences``) are scored as they are: each passage is split once per answer."""
        split = request.sentences
        per_passage = {p.n: split[p.n] if p.n in split else split_sentences(p, self.options.max_sentence_chars)
                       for p in request.passages}
        if not METADATA_QUESTION.search(folded):
            per_passage = drop_idle_metadata(per_passage, question)
        score_sentences(question, [s for ss in per_passage.values() for s in ss], request.similarity)
        return per_passage

    def _select(self, per_passage: dict[int, list[Sentence]], fiches: set[str], top: float) -> list[Sentence]:
        """The chosen initiatives' sentences, no repeats, ``max_sentences`` in all, taken
        breadth-first: every passage of a chosen initiative gets its best sentence before
        any gets a second one (up to ``max_per_passage``, and only a strong one: within
        half the margin of the best). Returned in rank then text order."""
        ranked = [sorted(sentences, key=lambda s: (-s.score, s.position))
                  for sentences in per_passage.values() if sentences and sentences[0].passage.chunk.fiche_id in fiches]
        chosen: list[Sentence] = []
        for turn in range(self.options.max_per_passage):
            for sentences in ranked:
                if turn < len(sentences) and len(chosen) < self.options.max_sentences:
                    sentence = sentences[turn]
                    weak = sentence.score < top - self.options.margin * (1 if turn == 0 else 0.5)
                    if not (weak and chosen) and not near_duplicate(sentence, chosen):
                        chosen.append(sentence)
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

    def _list_initiatives(self, best: list[Sentence]) -> Iterator[str]:
        """Each initiative once, with its best sentence, in rank order."""
        yield LIST_INTRO
        for sentence in best:
            title = clean(sentence.passage.chunk.title, 200)
            yield f"- **{title}** : {sentence.text} [{sentence.passage.n}]\n"
