"""The conversation carried by OpenAI messages, and its storage when the client names it.

OpenAI clients resend the whole conversation with each request. The last message must
be the user's question; the earlier user messages, each paired with the assistant
message that follows it, are the pipeline's history (``(question, answer)`` pairs, oldest
first), from which a follow-up such as « et à Nantes ? » is made standalone. System and
developer messages are ignored: the assistant's rules are the prompts of ``prompts/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request

from rag.api.errors import ApiError
from rag.api.schemas import MAX_MESSAGE_CHARS, ChatMessage
from rag.types import Answer


def message_text(message: ChatMessage) -> str:
    """The text of a message (the ``text`` parts of a multi-part one, joined)."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.type == "text" and part.text)


def conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[tuple[str, str]]]:
    """(question, history) from the messages; a 400 when there is no final user message
    or a message is longer than :data:`MAX_MESSAGE_CHARS`."""
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for index, message in enumerate(messages):
        text = message_text(message)
        if len(text) > MAX_MESSAGE_CHARS:
            raise ApiError(400, f"message {index} trop long : {len(text)} caractères, au plus {MAX_MESSAGE_CHARS}",
                           "context_length_exceeded", param=f"messages.{index}.content")
        if message.role == "user":
            if pending is not None:
                turns.append((pending, ""))
            pending = text
        elif message.role == "assistant" and pending is not None:
            turns.append((pending, text))
            pending = None
    if pending is None:
        raise ApiError(400, "aucune question : le dernier message (hors système) doit venir de l'utilisateur "
                       "(role « user »)", "missing_user_message", param="messages")
    return pending, turns


def record_exchange(request: Request, conversation_id: str, answer: Answer) -> None:
    """Store the exchange in the conversation ``conversation_id`` (see the module doc)."""
