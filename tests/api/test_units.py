"""The API's pure parts: messages -> question + history, keys and the loopback rule,
French validation messages."""

from __future__ import annotations

import pytest

from rag.api.auth import check_exposure, is_loopback, key_matches, load_keys
from rag.api.conversation import conversation
from rag.api.errors import ApiError, validation_message
from rag.api.schemas import MAX_MESSAGE_CHARS, ChatMessage, ContentPart
from rag.config import load_settings
from rag.errors import ConfigError


def msg(role: str, content: str | list[ContentPart] | None) -> ChatMessage:
    return ChatMessage(role=role, content=content)


def test_history_pairs_each_user_message_with_the_next_answer():
    question, history = conversation([
        msg("system", "règles"), msg("user", "q1"), msg("assistant", "r1"), msg("user", "q2"),
        msg("user", "q3"), msg("assistant", "r3"), msg("tool", "x"), msg("user", "et à Nantes ?")])
    assert question == "et à Nantes ?"
    assert history == [("q1", "r1"), ("q2", ""), ("q3", "r3")]


def test_multipart_content_keeps_the_text_parts():
    parts = [ContentPart(type="text", text="borne"), ContentPart(type="image_url"), ContentPart(type="text",
                                                                                               text="mobile")]
    assert conversation([msg("user", parts)]) == ("borne\nmobile", [])


@pytest.mark.parametrize("messages,code", [
    ([msg("user", "q"), msg("assistant", "r")], "missing_user_message"),
    ([msg("system", "règles")], "missing_user_message"),
    ([msg("user", "x" * (MAX_MESSAGE_CHARS + 1))], "context_length_exceeded"),
    ([msg("assistant", "x" * (MAX_MESSAGE_CHARS + 1)), msg("user", "q")], "context_length_exceeded"),
])
def test_unusable_conversations_are_400(messages, code):
    with pytest.raises(ApiError) as raised:
        conversation(messages)
    assert raised.value.status == 400 and raised.value.code == code


def test_keys_from_env_and_file(tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# commentaire\n  k3  \n\nk4 # fin de ligne\n", encoding="utf-8")
    settings = load_settings(api_keys=" k1, ,k2 ", api_keys_file=keys_file)
    assert load_keys(settings) == ("k1", "k2", "k3", "k4")
    assert "k1" not in repr(settings)
    assert load_keys(load_settings()) == ()
    with pytest.raises(ConfigError, match="RAG_API_KEYS_FILE illisible"):
        load_keys(load_settings(api_keys_file=tmp_path / "absent"))


def test_key_matching_and_loopback_rule():
    assert key_matches("k2", ("k1", "k2")) and not key_matches("k", ("k1", "k2")) and not key_matches("k1", ())
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "::", "example.org", ""))
    check_exposure("127.0.0.1", (), insecure=False)
    check_exposure("0.0.0.0", ("k",), insecure=False)
    check_exposure("0.0.0.0", (), insecure=True)
    with pytest.raises(ConfigError, match="refus d'écouter sur 0.0.0.0"):
        check_exposure("0.0.0.0", (), insecure=False)


def test_validation_messages_are_french():
    message, field = validation_message([{"type": "missing", "loc": ("body", "messages")}])
    assert message == "requête invalide : « messages » : champ obligatoire manquant" and field == "messages"
    message, field = validation_message([{"type": "json_invalid", "loc": ("body", 3)}])
    assert "JSON invalide" in message and field is None
