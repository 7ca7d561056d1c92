"""The conversation carried by OpenAI messages, and its storage when the client names it
(header ``X-Conversation-Id``; see :class:`StoredConversation`).

OpenAI clients resend the whole conversation with each request. The last message must
be the user's question; the earlier user messages, each paired with the assistant
message that follows it, are the pipeline's history (``(question, answer)`` pairs, oldest
first), from which a follow-up such as « et à Nantes ? » is made standalone. System and
developer messages are ignored: the assistant's rules are the prompts of ``prompts/``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.requests import Request

from rag.answer.pipeline import AnswerRun
from rag.api.errors import ApiError
from rag.api.schemas import MAX_MESSAGE_CHARS, ChatMessage
from rag.api.state import services_of
from rag.conversations import LOCAL_USER, ConversationStore
from rag.errors import ConversationNotFound, DatabaseError

log = logging.getLogger(__name__)

NEW = "new"
UNAVAILABLE = ("historique indisponible : la base des conversations ne répond pas ; la question est traitée "
               "avec les seuls messages envoyés et cet échange ne sera pas enregistré (l'enregistrement reprend "
               "dès son retour)")
"""The notice of an answer whose named conversation could not be opened (the cause,
which names the database server, stays in the server's log)."""


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


class StoredConversation:
    """A conversation the client named with the ``X-Conversation-Id`` header: ``new``
    starts one (its id comes back in the same header), an id continues one. Without
    history in the messages, the stored one resolves the follow-up. A database failure
    never costs the answer: it is logged, and the answer is not stored."""

    def __init__(self, store: ConversationStore, user_id: str, conversation_id: str) -> None:
        self.id = conversation_id
        self.exchange = store.exchange(user_id, conversation_id)  # timed from here: the request's start
        self.history: list[tuple[str, str]] = []

    @classmethod
    def open(cls, request: Request, wanted: str, read_history: bool = True) -> StoredConversation | None:
        """The conversation (created for ``new``), with its stored history if
        ``read_history`` (else only its owner is checked: the client resent the messages);
        404 for an id this user does not own; None when the database fails."""
        store = services_of(request).conversations
        user_id: str = getattr(request.state, "user_id", LOCAL_USER)
        try:
            if wanted.strip().lower() == NEW:
                return cls(store, user_id, store.create_conversation(user_id).id)
            stored = cls(store, user_id, wanted.strip())
            if read_history:
                stored.history = store.history(stored.id, user_id)
            else:
                store.check_owned(stored.id, user_id)
            return stored
        except ConversationNotFound as exc:
            raise ApiError(404, str(exc), "conversation_not_found", param="X-Conversation-Id") from None
        except DatabaseError as exc:
            log.warning("conversation not stored, database unavailable: %s", exc)
            return None

    def mark_first_token(self) -> None:
        self.exchange.mark_first_token()

    def save(self, run: AnswerRun, explicit: dict[str, str]) -> None:
        """Append the answer as the conversation's next turn, like the UI does."""
        try:
            self.exchange.save(run, explicit)
        except DatabaseError as exc:
            log.warning("turn not stored in conversation %s: %s", self.id, exc)
