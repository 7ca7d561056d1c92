"""The answering pipeline shared by the CLI and the UI.

``ask`` does everything up to the first token synchronously (clean the question, make a
follow-up standalone, filters, retrieval, abstention, prompt), so the sources are known
at once; ``AnswerRun.stream()`` then yields the answer text with citations verified and
spam URLs masked as it streams, and ``AnswerRun.result`` is the final :class:`Answer`.
A backend failure never raises out of the stream: it stops, and ``result.error`` holds
the readable message while the retrieved sources stay available.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Protocol

from rag.answer.abstention import Decision, by_cosine, lexical_support, prejudge, threshold_for, top_cosine
from rag.answer.backends.base import Backend
from rag.answer.citations import CitationStream
from rag.answer.prompting import Prompts, build_messages
from rag.answer.question import History, standalone_question
from rag.answer.sources import evidence_summary, make_sources, order_sources
from rag.catalogue.catalogue import Catalogue
from rag.catalogue.spam import link_guard
from rag.config import Settings
from rag.errors import BackendError
from rag.search.filters import FILTER_FIELDS, check_filters, infer_filters, place_depth
from rag.search.retrieval import Retriever
from rag.text import clean_question
from rag.types import Answer, GenerationRequest, Hit, Passage, Source

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
                 abstain_text: str | None, notices: list[str], guard: tuple) -> None:
        self.question, self.standalone, self.filters = question, standalone, filters
        self.backend, self.sources, self.given = backend, sources, given
        self.request, self.abstain_text, self.notices = request, abstain_text, notices
        self._mask, self._hold = guard
        self._result: Answer | None = None

    @property
    def abstained(self) -> bool:
        return self.abstain_text is not None

    def _chunks(self) -> Iterator[str]:
        if self.abstain_text is not None:
            yield self.abstain_text
        else:
            yield from self.backend.stream(self.request)

    def stream(self) -> Iterator[str]:
        """The answer text as it comes (already cleaned); replays it once finished."""
        if self._result is not None:
            yield self._result.answer
            return
        cleaner = CitationStream([p.n for p in self.given], transform=self._mask, hold=self._hold)
        error = None
        try:
            for chunk in self._chunks():
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
            error = f"backend '{self.backend.name}': erreur inattendue ({type(exc).__name__}: {exc})"
        tail = cleaner.finish()
        self._finish(cleaner, error)
        if tail:
            yield tail

    def _finish(self, cleaner: CitationStream, error: str | None) -> None:
        check = cleaner.check
        sources = order_sources(self.sources, check.cited)
        citations = [s for s in sources if s.cited]
        said_not_covered = not citations and bool(NOT_COVERED.search(check.text))
        abstained = self.abstained or (said_not_covered and error is None)
        self._result = Answer(
            question=self.question, standalone_question=self.standalone, answer=self._mask(check.text).strip(),
            citations=citations, sources=sources, abstained=abstained, backend=self.backend.name,
            evidence=evidence_summary(self.given, citations, abstained), error=error,
            removed_citations=check.removed, filters=self.filters, notices=self.notices,
        )

    @property
    def result(self) -> Answer:
        """The final answer (runs the stream to its end if nobody read it)."""
        if self._result is None:
            for _ in self.stream():
                pass
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
    engine = services.backend(backend, **backend_overrides)
    prompts = services.prompts()
    fiches = services.fiches
    standalone = standalone_question(text, history, fiches, engine, prompts)
    inferred = infer_filters(standalone, fiches) if infer else {}
    wanted = {**inferred, **explicit}
    k = place_depth(wanted, fiches, k or settings.top_k, settings.max_per_fiche)
    hits = services.retriever.search(standalone, k=k, mode=settings.search_mode, filters=wanted)
    decision = _decide(standalone, hits, wanted, services)
    spam = services.spam_patterns()
    run = dict(question=text, standalone=standalone, filters=wanted, backend=engine, notices=notices,
               guard=link_guard(spam))
    if decision.abstain:
        closest = hits or services.retriever.search(standalone, k=k, mode=settings.search_mode)
        sources = make_sources(closest, fiches, spam)
        text = prompts.abstain.render(question=text, raison=decision.reason, initiatives=_initiatives(sources))
        return AnswerRun(**run, sources=sources, given=[], request=None, abstain_text=text)
    passages = [Passage(n=i, chunk=hit.chunk, score=hit.score) for i, hit in enumerate(hits, start=1)]
    request, given = _request(standalone, passages, engine, prompts, settings, notices)
    return AnswerRun(**run, sources=make_sources(hits, fiches, spam), given=given, request=request, abstain_text=None)


def _decide(standalone: str, hits: list[Hit], filters: dict[str, str], services: AnswerContext) -> Decision:
    """Abstention: nothing found (with the filters), names settle it, or the cosine does
    (overruled when the passages hold the question's words)."""
    if filters and not hits:
        wanted = ", ".join(f"{FILTER_FIELDS[key].label} = « {value} »" for key, value in filters.items())
        return Decision(True, f"Aucune initiative du catalogue ne correspond à : {wanted}.")
    if not hits:
        return Decision(True, "Aucun passage du catalogue ne correspond à la question.")
    decision = prejudge(standalone, services.fiches, filtered=bool(filters))
    if decision is not None:
        return decision
    best = top_cosine(services.retriever, standalone, filters)
    support = lexical_support(standalone, (hit.chunk for hit in hits), services.retriever.lexical)
    return by_cosine(best, threshold_for(services.settings), support)


def _request(question: str, passages: list[Passage], engine: Backend, prompts: Prompts, settings: Settings,
             notices: list[str]) -> tuple[GenerationRequest, list[Passage]]:
    """The backend request: all passages for extractive, a token-budgeted prompt for LLMs."""
    if not engine.uses_llm:
        return GenerationRequest(question=question, passages=passages), passages
    options = engine.options
    built = build_messages(
        question, passages, prompts,
        context_window=getattr(options, "context_window", None) or settings.context_window,
        max_tokens=getattr(options, "max_tokens", None) or settings.max_tokens,
    )
    if built.dropped:
        notices.append(f"{built.dropped} passage(s) écarté(s) pour tenir dans la fenêtre de contexte du modèle.")
    return GenerationRequest(question=question, passages=built.passages, messages=built.messages), built.passages


def _initiatives(sources: list[Source]) -> str:
    """"- Titre (Ville)" once per initiative, in rank order."""
    seen: dict[str, str] = {}
    for source in sources:
        place = f" ({source.ville})" if source.ville else ""
        seen.setdefault(source.fiche_id, f"- {source.title}{place}")
    return "\n".join(seen.values()) or "- (aucune)"
