"""The answering pipeline shared by the CLI and the UI.

``ask`` does everything up to the first token synchronously (clean the question, make a
follow-up standalone, filters, retrieval, abstention, prompt), so the sources are known
at once; ``AnswerRun.stream()`` then yields the answer text with citations verified and
spam URLs masked as it streams, and ``AnswerRun.result`` is the final :class:`Answer`.
A backend failure never raises out of the stream: it stops, and ``result.error`` holds
the readable message while the retrieved sources stay available.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from rag.answer.abstention import (
    Decision,
    by_cosine,
    by_signals,
    lexical_support,
    prejudge,
    signals,
    threshold_for,
    top_cosine,
)
from rag.answer.backends.base import Backend, ContextOverflow
from rag.answer.budget import budgeted_request
from rag.answer.citations import CitationStream
from rag.answer.evidence import SENTENCE_CHARS, sentence_similarity, split_passages
from rag.answer.hyde import search_text
from rag.answer.prompting import Prompts
from rag.answer.question import History, standalone_question
from rag.answer.sources import evidence_summary, make_sources, numbering, order_sources, renumber_passages
from rag.answer.support import Similarity, embedder_similarity, unsupported
from rag.catalogue.catalogue import Catalogue
from rag.catalogue.spam import LinkGuard, link_guard
from rag.config import Settings
from rag.errors import BackendError
from rag.search.filters import FILTER_FIELDS, check_filters, has_place, infer_filters, place_depth
from rag.search.retrieval import Retriever, check_k
from rag.text import clean_question
from rag.types import Answer, GenerationRequest, Hit, Passage, Source, Unsupported

log = logging.getLogger(__name__)

NOT_COVERED = re.compile(r"catalogue ne couvre pas (?:cela|cette question)", re.I)
"""How ``prompts/`` (LLMs) and the extractive backend say the passages do not answer."""


class AnswerContext(Protocol):
    """What answering needs from the process (``rag.services.Services`` provides it):
    the settings, the catalogue, the retriever, the backends, and the editable files
    (prompts, deny-list) re-read when they change."""

    settings: Settings

    @property
    def fiches(self) -> Catalogue: ...

    @property
    def retriever(self) -> Retriever: ...

    def backend(self, name: str | None = None, **overrides: object) -> Backend: ...

    def prompts(self) -> Prompts: ...

    def spam_patterns(self) -> list[str]: ...


class AnswerRun:
    """One answer being produced: ``sources`` now, ``stream()`` then ``result``."""

    def __init__(self, *, question: str, standalone: str, filters: dict[str, str], backend: Backend,
                 sources: list[Source], given: list[Passage], request: GenerationRequest | None,
                 abstain_text: str | None, notices: list[str], guard: LinkGuard,
                 retry: Callable[[ContextOverflow], tuple[GenerationRequest, list[Passage]]] | None = None,
                 similarity: Similarity | None = None, failure: BackendError | None = None) -> None:
        self.question, self.standalone, self.filters = question, standalone, filters
        self.backend, self.sources, self.given = backend, sources, given
        self.request, self.abstain_text, self.notices = request, abstain_text, notices
        self._mask, self._hold = guard
        self._retry, self._similarity = retry, similarity  # a refused prompt rebuilt once; support check
        self._failure = failure  # known before streaming (no prompt fits the window): the stream reports it
        self._result: Answer | None = None

    @property
    def abstained(self) -> bool:
        return self.abstain_text is not None

    @property
    def model(self) -> str | None:
        """The LLM model asked (``None`` for the extractive backend), as stored with the turn."""
        model = getattr(self.backend.options, "model", None)
        return str(model) if model else None

    def _chunks(self, cleaner: CitationStream) -> Iterator[str]:
        """The backend's text; a prompt refused as too long is rebuilt smaller and sent once more."""
        if self._failure is not None:
            raise self._failure
        if self.abstain_text is not None or self.request is None:
            yield self.abstain_text or ""
            return
        try:
            yield from self.backend.stream(self.request)
        except ContextOverflow as overflow:  # raised before any token (an HTTP 400)
            if self._retry is None:
                raise
            self.request, self.given = self._retry(overflow)  # a question too long even then: ContextOverflow
            self._retry = None
            cleaner.valid = {p.n for p in self.given}
            yield from self.backend.stream(self.request)

    def stream(self) -> Iterator[str]:
        """The answer text as it comes (already cleaned); replays it once finished."""
        if self._result is not None:
            yield self._result.answer
            return
        cleaner = CitationStream([p.n for p in self.given], transform=self._mask, hold=self._hold, renumber=True)
        error = None
        try:
            for chunk in self._chunks(cleaner):
                shown = cleaner.feed(chunk)
                if shown:
                    yield shown
        except BackendError as exc:
            error = str(exc)
        except GeneratorExit:
            self._finish(cleaner, "réponse interrompue")
            raise
        except Exception as exc:  # a backend bug must not kill the UI: report it like a failure
            log.exception("backend %s crashed", self.backend.name)
            error = f"moteur « {self.backend.name} » : erreur inattendue ({type(exc).__name__} : {exc})"
        tail = cleaner.finish()
        self._finish(cleaner, error)
        if tail:
            yield tail

    def _finish(self, cleaner: CitationStream, error: str | None) -> None:
        check = cleaner.check
        shown = numbering((s.n for s in self.sources), check.cited)  # as the text shows them: [1] first
        sources = order_sources(self.sources, check.cited, shown)
        given = renumber_passages(self.given, shown)
        citations = [s for s in sources if s.cited]
        said_not_covered = not citations and bool(NOT_COVERED.search(check.text))
        abstained = self.abstained or (said_not_covered and error is None)
        text = self._mask(check.text).strip()
        self._result = Answer(
            question=self.question, standalone_question=self.standalone, answer=text,
            citations=citations, sources=sources, abstained=abstained, backend=self.backend.name,
            evidence=evidence_summary(given, citations, abstained), error=error,
            removed_citations=check.removed, filters=self.filters, notices=self.notices,
            unsupported=[] if abstained else self._unsupported(text, given),
        )

    def _unsupported(self, text: str, given: list[Passage]) -> list[Unsupported]:
        """The sentences their citation does not back up (see :mod:`rag.answer.support`);
        a failing embedder only skips the similarity side of the check."""
        try:
            return unsupported(text, given, self._similarity)
        except Exception:  # the check must never cost the answer
            log.exception("support check failed; checking by term overlap only")
            return unsupported(text, given)

    @property
    def result(self) -> Answer:
        """The final answer (runs the stream to its end if nobody read it)."""
        if self._result is None:
            for _ in self.stream():
                pass
        if self._result is None:  # stream() always finishes it
            raise AssertionError("the answer stream ended without a result")
        return self._result


def ask(question: str, services: AnswerContext, *, history: History | None = None,
        filters: Mapping[str, str] | None = None, backend: str | None = None, k: int | None = None,
        infer: bool = True, **backend_overrides: object) -> AnswerRun:
    """Answer ``question`` from the catalogue (see the module doc). ``history``: the
    conversation as ``(question, answer)`` pairs, oldest first (see :mod:`rag.answer.question`);
    ``backend_overrides``: backend options (``base_url``, ``model``, ``context_window``…).
    Bad input raises :class:`~rag.errors.InputError`, a bad setting :class:`~rag.errors.ConfigError`.
    ``infer=False`` skips filters inferred from the question (the UI's removed chips)."""
    settings = services.settings
    text, notices = clean_question(question, settings.max_question_chars)
    explicit = check_filters(filters)
    check_k(k)  # bad input refused before any costly work (the follow-up rewrite asks the model)
    engine = services.backend(backend, **backend_overrides)
    prompts = services.prompts()
    fiches = services.fiches
    place_of = functools.cache(functools.partial(infer_filters, catalogue=fiches))  # each text read once
    standalone = standalone_question(text, history, engine, prompts, place_of)
    inferred = place_of(standalone) if infer else {}
    wanted = {**inferred, **explicit}
    k = place_depth(wanted, fiches, settings.top_k if k is None else k, settings.max_per_fiche)
    query = search_text(standalone, engine, prompts, settings.query_rewrite)
    hits = services.retriever.search(query, k=k, mode=settings.search_mode, filters=wanted)
    passages = [Passage(n=i, chunk=hit.chunk, score=hit.score, dense=hit.dense) for i, hit in enumerate(hits, start=1)]
    # the passages split into sentences, each embedded, only if a signal would refuse or the extractive backend
    # quotes: once per answer, the backend scoring the very sentences split here
    cut = getattr(engine.options, "max_sentence_chars", SENTENCE_CHARS)  # the sentences the extractive backend quotes
    split = functools.cache(lambda: split_passages(passages, cut))
    similarity = functools.cache(lambda: sentence_similarity(
        services.retriever.embedder, standalone, (s.text for sentences in split().values() for s in sentences)))
    decision = _decide(standalone, hits, wanted, services, similarity)
    spam = services.spam_patterns()
    run = functools.partial(AnswerRun, question=text, standalone=standalone, filters=wanted, backend=engine,
                            notices=notices, guard=link_guard(spam))
    if decision.abstain:
        closest = hits or services.retriever.search(standalone, k=k, mode=settings.search_mode)
        sources = make_sources(closest, fiches, spam)
        text = prompts.abstain.render(question=text, raison=decision.reason, initiatives=_initiatives(sources))
        return run(sources=sources, given=[], request=None, abstain_text=text)
    try:
        request, given = budgeted_request(standalone, passages, engine, prompts, settings, notices)
    except ContextOverflow as too_long:  # the sources stay, the run reports it like a refusal
        return run(sources=make_sources(hits, fiches, spam), given=[], request=None, abstain_text=None,
                   failure=too_long)
    if not engine.uses_llm:  # extractive: sentences weighed by meaning too; a place's initiatives listed
        request = request.model_copy(update={"filters": wanted, "similarity": similarity(), "sentences": split()})

    def retry(overflow: ContextOverflow) -> tuple[GenerationRequest, list[Passage]]:
        rebuilt = budgeted_request(standalone, passages, engine, prompts, settings, notices,
                                   refused=(overflow, request))
        notices.append("Le serveur a refusé la requête, trop longue pour sa fenêtre de contexte : "
                       "elle a été raccourcie et renvoyée.")  # only once it could be: else a ContextOverflow says why
        return rebuilt

    return run(sources=make_sources(hits, fiches, spam), given=given, request=request, abstain_text=None,
               retry=retry if engine.uses_llm else None, similarity=embedder_similarity(services.retriever.embedder))


def _decide(standalone: str, hits: list[Hit], filters: dict[str, str], services: AnswerContext,
            similarity: Callable[[], dict[str, float]]) -> Decision:
    """Abstention: nothing found (with the filters), names settle it, the sentence-level
    signals do (unknown words, off-theme, each with a weak best quote: ``similarity`` is
    each retrieved sentence's cosine with the question, computed on first call), a place filter with passages
    answers, or the cosine does (overruled when the passages hold the question's words)."""
    if filters and not hits:
        wanted = ", ".join(f"{FILTER_FIELDS[key].label} = « {value} »" for key, value in filters.items())
        return Decision(True, f"Aucune initiative du catalogue ne correspond à : {wanted}.")
    if not hits:
        return Decision(True, "Aucun passage du catalogue ne correspond à la question.")
    decision = prejudge(standalone, services.fiches, filtered=bool(filters))
    if decision is not None:
        return decision
    best = top_cosine(services.retriever, standalone, filters)
    found = signals(standalone, services.fiches, services.retriever.embedder, best or 0.0)
    if by_signals(found) is not None:  # a closer sentence may overrule it: the signals only weaken as the quote rises
        found = dataclasses.replace(found, quote=max([best or 0.0, *similarity().values()]))
    settled = by_signals(found)
    if settled is not None:
        return settled
    if has_place(filters) and not found.unknown:  # what was done at a named place
        return Decision(False)
    support = lexical_support(standalone, (hit.chunk for hit in hits), services.retriever.lexical)
    return by_cosine(best, threshold_for(services.settings), support)


def _initiatives(sources: list[Source]) -> str:
    """"- Titre (Ville)" once per initiative, in rank order."""
    seen: dict[str, str] = {}
    for source in sources:
        place = f" ({source.ville})" if source.ville else ""
        seen.setdefault(source.fiche_id, f"- {source.title}{place}")
    return "\n".join(seen.values()) or "- (aucune)"
