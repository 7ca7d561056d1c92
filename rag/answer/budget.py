"""The context window an LLM answer is budgeted for, and the request built for it.

:func:`budgeted_request` builds the prompt for that window (``RAG_CONTEXT_WINDOW``, the
server's, or the default): passages dropped and the answer shortened as needed, said in
``notices``; after a refusal, rebuilt for the window the server named or with more
margin. When no prompt fits, a :class:`ContextOverflow` says why, in French: the
question, or the instructions themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from rag.answer.backends.base import DEFAULT_CONTEXT_WINDOW, Backend, ContextOverflow
from rag.answer.prompting import MIN_ANSWER_TOKENS, SAFETY, Prompts, build_messages
from rag.config import Settings
from rag.errors import ConfigError
from rag.tokens import count_tokens
from rag.types import GenerationRequest, Passage


def budgeted_request(question: str, passages: list[Passage], engine: Backend, prompts: Prompts,
                     settings: Settings, notices: list[str],
                     refused: tuple[ContextOverflow, GenerationRequest] | None = None,
                     ) -> tuple[GenerationRequest, list[Passage]]:
    """The backend request: all passages for extractive, a prompt budgeted for the
    backend's context window for LLMs (smaller after a refusal: see :func:`_after_refusal`)."""
    if not engine.uses_llm:
        return GenerationRequest(question=question, passages=passages), passages
    known = engine.context_window()
    window = known.tokens if known else settings.context_window or DEFAULT_CONTEXT_WINDOW
    max_tokens = getattr(engine.options, "max_tokens", None) or settings.max_tokens
    safety, origin = SAFETY, known.source if known else "par défaut"
    if refused is not None:
        window, safety = _after_refusal(*refused, window)
        origin = "apprise d'un refus du serveur"
    build = functools.partial(build_messages, passages=passages, prompts=prompts, context_window=window,
                              max_tokens=max_tokens, safety=safety)
    try:
        built = build(question)
    except ConfigError:  # the question and the instructions leave no room for a passage
        answer = min(max_tokens, MIN_ANSWER_TOKENS)
        raise ContextOverflow(engine.name, _too_small(question, build, window, origin, answer), window) from None
    if built.dropped:
        notices.append(f"{built.dropped} passage(s) écarté(s) pour tenir dans la fenêtre de contexte du modèle.")
    if built.max_tokens < max_tokens:
        notices.append(f"Réponse limitée à {built.max_tokens} tokens (au lieu de {max_tokens}) pour tenir dans "
                       f"la fenêtre de contexte du modèle ({window} tokens).")
    return GenerationRequest(question=question, passages=built.passages, messages=built.messages,
                             max_tokens=built.max_tokens, context_window=window), built.passages


def _too_small(question: str, build: Callable[[str], object], window: int, origin: str, answer: int) -> str:
    """Why no prompt fits ``window``: the question, when the instructions alone would
    leave room for a passage and a short answer (``build("")`` succeeds); else the
    instructions and the answer themselves, whatever the question."""
    try:
        build("")
    except ConfigError:
        return (f"la fenêtre de contexte du modèle ({window} tokens ; taille : {origin}) ne peut contenir les "
                f"consignes, un passage et une réponse d'au moins {answer} tokens, quelle que soit la "
                "question : augmentez RAG_CONTEXT_WINDOW (si le serveur accepte davantage), ou choisissez un "
                "modèle à plus grande fenêtre")
    return (f"la question ({count_tokens(question)} tokens) est trop longue pour la fenêtre de contexte du modèle "
            f"({window} tokens) : avec les consignes, il n'y reste pas la place d'un passage ; raccourcissez la "
            f"question, ou choisissez un modèle à plus grande fenêtre (taille : {origin})")


def _after_refusal(overflow: ContextOverflow, sent: GenerationRequest, window: int) -> tuple[int, float]:
    """The window and safety share for the retry of a refused prompt: the window the
    server named if smaller than the one used; otherwise our token count was too low for
    its tokenizer, so the share filled shrinks by our count / its count (or by a quarter)."""
    used = sent.context_window or window
    if overflow.window and overflow.window < used:
        return overflow.window, SAFETY
    ours = sum(count_tokens(m["content"]) for m in sent.messages)
    theirs = overflow.prompt_tokens
    return used, SAFETY * (min(0.9, ours / theirs) if theirs else 0.75)
