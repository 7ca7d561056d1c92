"""The question before retrieval: cleaned, and made standalone when it is a follow-up.

History format (one choice, used by the CLI, the UI and the tests): a list of
``(question, answer)`` pairs, oldest first. Dicts ``{"question": …, "answer": …}`` are
accepted too, for JSON callers.

Rewriting a follow-up ("et à Nantes ?", "comment ont-ils fait ?"):

* LLM backends: the ``prompts/rewrite.md`` prompt through ``backend.complete`` whenever
  there is a history (the model judges whether the question needs the conversation).
  On a backend failure or an unusable reply, the extractive rule below is used.
* extractive (no LLM): a question that looks like a follow-up (starts with "et", "mais",
  "and"…, uses a pronoun such as "ils", "cela", "ce projet", or is a bare place like
  "à Nantes ?") gets the key terms of the previous standalone question prepended. A
  place stated by the new question replaces the previous one.

The places a text states come from the caller (``place_of``: the pipeline passes
:func:`rag.search.filters.infer_filters` on its catalogue, memoised), so each text's
place is read once per answer and this module never calls back into the search layer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence

from rag.answer.backends.base import Backend
from rag.answer.prompting import Prompts, Template
from rag.errors import InputError, RagError
from rag.text import FOLLOWUP_GENERIC, fold_spaced, squash
from rag.text import LEXICAL_STOP_WORDS as STOP_WORDS
from rag.types import GenerationRequest

log = logging.getLogger(__name__)

History = Sequence[tuple[str, str] | dict]
PlaceOf = Callable[[str], Mapping[str, str]]
"""The places (filters) a text states itself, e.g. ``{"commune": "Nantes"}``."""

_FOLLOWUP_START = re.compile(r"^(?:et|mais|aussi|puis|sinon|and|what about|pareil|idem|même chose)\b", re.I)
_ANAPHORA = frozenset(
    "ils elles eux leur leurs cela ca celle celui ceux celles ci la-bas lui".split()
)
_DEMONSTRATIVE = re.compile(
    r"\b(?:ce|cet|cette|ces)\s+(?:projet|projets|initiative|initiatives|demarche|demarches|fiche|fiches|"
    r"experience|experiences|lieu|lieux|service|dispositif)\b"
)
_BARE_PLACE = re.compile(r"^(?:a|au|aux|en|dans|pour|sur|avec|in|at)\b")
_HISTORY_TURNS = 3
_ANSWER_CHARS = 600


def normalise_history(history: History | None) -> list[tuple[str, str]]:
    """``[(question, answer), …]`` from pairs or ``{"question", "answer"}`` dicts."""
    turns = []
    for item in history or []:
        if isinstance(item, dict):
            question, answer = item.get("question", ""), item.get("answer", "")
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            question, answer = item
        else:
            raise InputError("historique invalide : attendu une liste de paires (question, réponse)")
        if str(question or "").strip():
            turns.append((str(question).strip(), str(answer or "").strip()))
    return turns


def _content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[\w'’-]+", text) if fold_spaced(w).strip() not in STOP_WORDS]


def looks_like_followup(question: str) -> bool:
    """A question that cannot be understood without the previous one."""
    folded = fold_spaced(question).strip()
    words = re.findall(r"\w+", folded)
    if _FOLLOWUP_START.match(folded) or _DEMONSTRATIVE.search(folded):
        return True
    if any(w in _ANAPHORA for w in words):
        return True
    return bool(_BARE_PLACE.match(folded)) and len(_content_words(question)) <= 2


def carry_subject(question: str, previous: str, place_of: PlaceOf) -> str:
    """Extractive rewrite: the previous question's key terms, then the follow-up."""
    if not looks_like_followup(question):
        return question
    dropped: set[str] = set()
    if place_of(question):  # a new place (commune, département, région) replaces the old one
        for old_place in place_of(previous).values():
            dropped.update(re.findall(r"\w+", fold_spaced(old_place)))
    terms = [w for w in _content_words(previous)
             if fold_spaced(w) not in FOLLOWUP_GENERIC and not set(re.findall(r"\w+", fold_spaced(w))) & dropped]
    return f"{' '.join(terms)} — {question}" if terms else question


def extractive_standalone(question: str, turns: list[tuple[str, str]], place_of: PlaceOf) -> str:
    """Replay the conversation so each question carries the subject of the one before."""
    previous = ""
    for past, _ in turns:
        previous = carry_subject(past, previous, place_of) if previous else past
    return carry_subject(question, previous, place_of) if previous else question


def _conversation(turns: list[tuple[str, str]]) -> str:
    lines = []
    for question, answer in turns[-_HISTORY_TURNS:]:
        lines.append(f"Utilisateur : {question}")
        if answer:
            short = answer if len(answer) <= _ANSWER_CHARS else answer[:_ANSWER_CHARS] + " […]"
            lines.append(f"Assistant : {short}")
    return "\n".join(lines)


_SPEAKER = re.compile(r"^(?:utilisateur|assistant)\s*:", re.I)
_MARK = "\x00"  # stands for the placeholders when the prompt's fixed text is read
_ECHO_WORDS = 3
"""A reply that is the first words of a prompt line is an echo from this many words on."""


def _prompt_starts(template: Template) -> list[str]:
    """The fixed text each line of the rewrite prompt starts with (for a line holding a
    placeholder, its text before it), squashed; lines starting with a placeholder give none."""
    marked = template.render(conversation=_MARK, question=_MARK)
    starts = (squash(line.split(_MARK)[0]) for line in marked.splitlines())
    return [start for start in starts if start]


def _echoes(text: str, starts: list[str]) -> bool:
    """Whether ``text`` continues a prompt line (starts with its fixed text), or is one
    cut short (at least :data:`_ECHO_WORDS` of its first words): a question that merely
    starts with one of its words (« Si Nantes… », « Nouvelle Maison… ») is not."""
    said = squash(text)
    return any(said == start or said.startswith(start + " ")
               or (start.startswith(said + " ") and len(said.split()) >= _ECHO_WORDS) for start in starts)


def _clean_rewrite(reply: str, question: str, template: Template) -> str | None:
    """First line of the model's reply, unquoted; None when unusable: empty, too long, or
    an echo of the prompt (a line of the rewrite ``template``, see :func:`_echoes`, or a
    « Utilisateur : » / « Assistant : » line of the conversation) — a small base model
    continues the prompt instead of answering it, and « et à Nantes ? » was then searched
    without Nantes."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = re.sub(r"^(?:question(?: réécrite| reformulée)?\s*:\s*)", "", lines[0], flags=re.I)
    text = text.strip(" \"'«»“”")
    if _SPEAKER.match(text) or _echoes(text, _prompt_starts(template)):
        return None
    return text if text and len(text) <= 3 * len(question) + 300 else None


def standalone_question(
    question: str, history: History | None, backend: Backend, prompts: Prompts, place_of: PlaceOf
) -> str:
    """The question to search with: itself, or its rewrite given the conversation
    (``place_of`` is used by the extractive rule only)."""
    turns = normalise_history(history)
    if not turns:
        return question
    if backend.uses_llm:
        prompt = prompts.rewrite.render(conversation=_conversation(turns), question=question)
        request = GenerationRequest(question=question, passages=[], messages=[{"role": "user", "content": prompt}])
        try:
            rewritten = _clean_rewrite(backend.complete(request), question, prompts.rewrite)
        except RagError as exc:
            log.warning("question rewrite failed, using the extractive rule: %s", exc)
            rewritten = None
        if rewritten:
            return rewritten
    return extractive_standalone(question, turns, place_of)
