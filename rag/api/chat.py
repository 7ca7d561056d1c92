"""``POST /v1/chat/completions`` and ``GET /v1/models``: the pipeline behind OpenAI's API.

The messages become the pipeline's question and history (see :func:`conversation`); the
answer is ``rag.answer.pipeline.ask``'s, so citations are verified, abstention and spam
masking apply. The pipeline is synchronous: ``ask`` runs in the threadpool and its
stream is read there piece by piece, so the event loop stays free for other clients.

Sources travel Perplexity's way: a top-level ``sources`` list in the response, and in
the last streamed chunk before ``data: [DONE]``. A backend that fails before the first
word gets a 502 that still lists the sources; one failing mid-stream ends the stream
with an error event carrying them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Generator
from typing import cast

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.answer.backends import REGISTRY
from rag.answer.pipeline import AnswerRun, ask
from rag.api.auth import require_key
from rag.api.conversation import UNAVAILABLE, StoredConversation, conversation
from rag.api.errors import ERROR_RESPONSES, ApiError
from rag.api.schemas import AssistantMessage, ChatRequest, ChatResponse, Choice, ModelCard, ModelList, Usage
from rag.api.state import context_of, services_of
from rag.api.views import api_source, check_filters, default_model, engines
from rag.tokens import count_tokens
from rag.types import Answer

router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=ERROR_RESPONSES)

STARTED = int(time.time())

DEFAULT_WINDOW = 8192
"""The context window assumed when RAG_CONTEXT_WINDOW is unset (the backends' own default)."""


@router.get("/models", response_model=ModelList)
async def list_models(request: Request) -> ModelList:
    """One model per configured answer engine."""
    ids = engines(services_of(request).settings)
    return ModelList(data=[ModelCard(id=mid, created=STARTED) for mid in ids])


@router.get("/models/{model}", response_model=ModelCard)
async def retrieve_model(model: str, request: Request) -> ModelCard:
    """One model of GET /v1/models (404 when unknown)."""
    return ModelCard(id=_engine(request, model)[0], created=STARTED)


def _engine(request: Request, model: str | None) -> tuple[str, str]:
    """(model id, backend name) for the requested model (404 when unknown)."""
    settings = services_of(request).settings
    known = engines(settings)
    model = model or default_model(settings)
    if model not in known:
        raise ApiError(404, f"modèle inconnu « {model[:100]} » ; modèles disponibles : {', '.join(known)}",
                       "model_not_found", param="model")
    return model, known[model]


def _max_tokens(body: ChatRequest, context_window: int) -> int | None:
    """The client's answer length limit (``max_completion_tokens`` wins), at most half the window."""
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None and max_tokens > context_window // 2:
        raise ApiError(400, f"max_tokens trop grand : au plus {context_window // 2} pour ce serveur",
                       "invalid_max_tokens", param="max_tokens")
    return max_tokens


@router.post("/chat/completions", response_model=ChatResponse,
             responses={200: {"content": {"text/event-stream": {}}, "description": "réponse, ou flux SSE"}})
async def chat_completions(body: ChatRequest, request: Request) -> JSONResponse | StreamingResponse:
    """Answer the last user message from the catalogue, with ``[n]`` citations and ``sources``."""
    model, backend = _engine(request, body.model)
    question, history = conversation(body.messages)
    filters = check_filters(body.filters)
    max_tokens = _max_tokens(body, services_of(request).settings.context_window or DEFAULT_WINDOW)
    wanted = request.headers.get("x-conversation-id")
    stored = await run_in_threadpool(StoredConversation.open, request, wanted, not history) if wanted else None
    if stored is not None and not history:
        history = stored.history
    notices = [UNAVAILABLE] if wanted and stored is None else []  # the database failed
    limiter = _limiter(request, backend)
    run = await anyio.to_thread.run_sync(
        lambda: ask(question, context_of(request), history=history, filters=filters, backend=backend,
                    temperature=body.temperature, max_tokens=max_tokens), limiter=limiter)
    reply = Reply(model, run, stored, filters, notices=notices,
                  usage_chunk=bool(body.stream_options and body.stream_options.include_usage))
    if body.stream:
        return await reply.streaming(limiter)
    result = await anyio.to_thread.run_sync(lambda: run.result, limiter=limiter)
    await reply.record()
    if result.error:
        raise reply.failure(result)
    return JSONResponse(reply.completion(result).model_dump(), headers=reply.headers)


def _limiter(request: Request, backend: str) -> CapacityLimiter | None:
    """The worker limit for this engine: an engine without LLM computes the whole answer
    on the CPU, so its work takes one of a few threads (no more than the cores can run,
    which keeps the event loop, and ``/health``, responsive under load); an LLM engine
    mostly waits on the network and uses the ordinary threadpool."""
    cls = REGISTRY.get(backend)
    if cls is not None and not cls.uses_llm:
        limiter: CapacityLimiter = request.app.state.cpu_limiter
        return limiter
    return None


async def _in_thread(pieces: Generator[str, None, None], limiter: CapacityLimiter | None) -> AsyncIterator[str]:
    """The generator's items, each computed in a worker thread."""
    while (piece := await anyio.to_thread.run_sync(next, pieces, None, limiter=limiter)) is not None:
        yield piece


class Reply:
    """One answer on its way to the client, whole or as OpenAI chunks."""

    def __init__(self, model: str, run: AnswerRun, stored: StoredConversation | None,
                 filters: dict[str, str], *, usage_chunk: bool = False, notices: list[str] | None = None) -> None:
        self.model, self.run, self.stored, self.filters = model, run, stored, filters
        self.notices = notices or []  # the request's own, shown before the run's
        self.usage_chunk = usage_chunk  # stream_options.include_usage: OpenAI's extra last chunk
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.headers = {"X-Conversation-Id": stored.id} if stored else {}

    def usage(self, answer: str) -> Usage:
        """Tokens of what the engine read (the prompt, or question + passages) and wrote."""
        request = self.run.request
        if request is not None and request.messages:
            prompt = sum(count_tokens(m["content"]) for m in request.messages)
        else:
            given = [p.chunk.text for p in self.run.given]
            prompt = count_tokens(self.run.standalone) + sum(count_tokens(text) for text in given)
        completion = count_tokens(answer)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)

    def completion(self, result: Answer) -> ChatResponse:
        return ChatResponse(id=self.id, created=self.created, model=self.model,
                            choices=[Choice(message=AssistantMessage(content=result.answer))],
                            usage=self.usage(result.answer), sources=[api_source(s) for s in result.sources],
                            abstained=result.abstained, notices=[*self.notices, *result.notices])

    def failure(self, result: Answer) -> ApiError:
        """The 502 of a failing backend, with the sources found and any partial answer."""
        return ApiError(502, f"le moteur de réponse a échoué : {result.error}", "backend_error", "backend_error",
                        extra={"sources": [api_source(s).model_dump() for s in result.sources],
                               "partial_answer": result.answer}, headers=self.headers)

    async def record(self) -> None:
        """Store the exchange when the client named a conversation."""
        if self.stored is not None:
            await run_in_threadpool(self.stored.save, self.run, self.filters)

    def _chunk(self, delta: dict[str, str], finish: str | None = None, **extra: object) -> str:
        return self._event(choices=[{"index": 0, "delta": delta, "finish_reason": finish}], **extra)

    def _event(self, **fields: object) -> str:
        """One ``chat.completion.chunk`` server-sent event."""
        payload = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                   **fields}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    async def streaming(self, limiter: CapacityLimiter | None) -> StreamingResponse:
        """The SSE response; a failure before the first word is a 502 instead."""
        pieces = cast(Generator[str, None, None], self.run.stream())
        reader = _in_thread(pieces, limiter)
        first = await anext(reader, None)
        if self.stored is not None:
            self.stored.mark_first_token()
        if first is None:
            result = self.run.result
            if result.error:
                await self.record()
                raise self.failure(result)
        return StreamingResponse(self._events(first, reader, pieces), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **self.headers})

    async def _events(self, first: str | None, reader: AsyncIterator[str], pieces: Generator[str, None, None],
                      ) -> AsyncIterator[str]:
        try:
            yield self._chunk({"role": "assistant", "content": first or ""})
            async for piece in reader:
                yield self._chunk({"content": piece})
            result = self.run.result
            await self.record()
            sources = [api_source(s).model_dump() for s in result.sources]
            if result.error:
                error = self.failure(result)
                detail = {"message": error.message, "type": error.type, "code": error.code}
                yield f"data: {json.dumps({'error': detail, 'sources': sources}, ensure_ascii=False)}\n\n"
            else:
                usage = self.usage(result.answer).model_dump()
                yield self._chunk({}, "stop", sources=sources, usage=usage,
                                  abstained=result.abstained, notices=[*self.notices, *result.notices])
                if self.usage_chunk:  # as OpenAI: no choices, only the usage
                    yield self._event(choices=[], usage=usage)
            yield "data: [DONE]\n\n"
        finally:
            await run_in_threadpool(pieces.close)  # a client gone mid-answer releases the backend's stream
