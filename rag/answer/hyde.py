"""Optional query rewrite before retrieval (HyDE-style), for LLM backends only.

The model writes the passage a fiche would contain to answer the question, in the
trade's words (``prompts/hyde.md``); retrieval then searches with the question followed
by that passage, so that everyday wording reaches the catalogue's vocabulary while the
question's own words (names, places) still count. Off by default
(``RAG_QUERY_REWRITE``): it costs one model call before the sources can be shown, and the
extractive backend has no model. A failing model, an empty reply or a missing
``hyde.md`` leave the question as it is (logged), never an error.
"""

from __future__ import annotations

import logging

from rag.answer.backends.base import Backend
from rag.answer.prompting import Prompts
from rag.errors import RagError
from rag.types import GenerationRequest

log = logging.getLogger(__name__)

MAX_PASSAGE_CHARS = 800
"""The model's passage is cut here: a runaway reply must not drown the question."""


def search_text(question: str, backend: Backend, prompts: Prompts, enabled: bool) -> str:
    """The text retrieval searches with: ``question``, followed by the model's hypothetical
    passage when ``enabled``, the backend uses an LLM and ``prompts/hyde.md`` exists."""
    if not enabled or not backend.uses_llm or prompts.hyde is None:
        return question
    prompt = prompts.hyde.render(question=question)
    request = GenerationRequest(question=question, passages=[], messages=[{"role": "user", "content": prompt}])
    try:
        reply = backend.complete(request)
    except RagError as exc:
        log.warning("réécriture de la question pour la recherche impossible, question seule : %s", exc)
        return question
    passage = " ".join(reply.split())[:MAX_PASSAGE_CHARS]
    return f"{question}\n{passage}" if passage else question
