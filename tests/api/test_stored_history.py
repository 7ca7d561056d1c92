"""``X-Conversation-Id`` with messages the client resends: the API answers from those
messages and does not read the stored history, only checks that the conversation is the
caller's (the app on a real uvicorn server; its SQL seen through SQLAlchemy's public
``before_cursor_execute`` event)."""

from __future__ import annotations

import httpx
from sqlalchemy import event

from rag.conversations import LOCAL_USER

STORED = {"role": "user", "content": "Quelles initiatives ont fait de la co-conception ?"}
RESENT = [{"role": "user", "content": "Quelles initiatives ont testé une borne d'accueil mobile ?"},
          {"role": "assistant", "content": "Saint-Méen-le-Grand [1]."},
          {"role": "user", "content": "et à Nantes ?"}]


def _post(api, messages: list[dict], conversation_id: str) -> httpx.Response:
    return httpx.post(f"{api.url}/v1/chat/completions", timeout=60, headers={"X-Conversation-Id": conversation_id},
                      json={"model": "fiches-extractive", "messages": messages})


def test_resent_messages_are_used_and_the_stored_history_is_not_read(llm_api):
    store = llm_api.server.config.app.state.services.conversations
    conversation_id = _post(llm_api, [STORED], "new").headers["X-Conversation-Id"]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        reply = _post(llm_api, RESENT, conversation_id)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert reply.status_code == 200 and reply.headers["X-Conversation-Id"] == conversation_id
    turns = store.get_conversation(conversation_id, LOCAL_USER).turns
    assert [t.question for t in turns] == [STORED["content"], "et à Nantes ?"]
    assert "borne" in turns[1].standalone_question  # resolved from the resent messages, not the stored turn
    assert statements  # the ownership check and the new turn went through this engine
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT") and "turns.answer" in s]


def test_resent_messages_do_not_open_an_unknown_conversation(llm_api):
    reply = _post(llm_api, RESENT, "inconnue")
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["code"] == "conversation_not_found" and "introuvable" in error["message"]
