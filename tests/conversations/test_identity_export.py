"""Who owns a conversation (desktop user, OIDC claims) and the export documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.conversations import LOCAL_USER, Timings, user_id_from_claims
from rag.conversations.export import conversation_json, conversation_markdown
from rag.errors import InputError
from tests.support.conversations import answer, not_covered, sqlite_store


def test_oidc_claims_give_a_stable_id_per_issuer_and_subject() -> None:
    claims = {"iss": "https://auth.agentconnect.gouv.fr/api/v2", "sub": "f2a1-77", "email": "a@b.fr",
              "is_logged_in": True}
    user = user_id_from_claims(claims)
    assert user == "oidc:https://auth.agentconnect.gouv.fr/api/v2|f2a1-77" != LOCAL_USER
    assert user_id_from_claims({**claims, "email": "nouvelle@b.fr"}) == user  # the e-mail may change
    assert user_id_from_claims({**claims, "iss": "https://autre.example"}) != user
    long = user_id_from_claims({"iss": "https://x" + "y" * 300, "sub": "1"})
    assert long.startswith("oidc-sha256:") and len(long) <= 255
    for bad in ({"email": "a@b.fr"}, {"sub": "  "}, {"sub": 42}):
        with pytest.raises(InputError, match="identifiant"):
            user_id_from_claims(bad)


def test_markdown_and_json_exports(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(LOCAL_USER)
    first = store.add_turn(conv.id, LOCAL_USER, answer("Initiatives à Brest ?", filters={"ville": "Brest"}),
                           Timings(first_token_ms=50, total_ms=400))
    store.add_turn(conv.id, LOCAL_USER, not_covered("Et les cartes grises ?"))
    store.add_feedback(first.id, LOCAL_USER, "down", ["Incomplet"], "il manque Quimper")
    got = store.get_conversation(conv.id, LOCAL_USER)
    text = conversation_markdown(got)
    assert text.startswith("# Initiatives à Brest ?\n") and f"Conversation {conv.id}" in text
    assert text.index("## 1. Initiatives à Brest ?") < text.index("## 2. Et les cartes grises ?")
    assert "### Sources citées\n- [1] Fiche brest › Contexte — <https://exemple.fr/brest>" in text
    assert "### Aussi retrouvés\n- [2] Fiche nantes" in text and "### Initiatives proches\n- [1] Fiche vendee" in text
    assert "Filtres : ville = Brest" in text and "_Question non couverte par le catalogue._" in text
    assert "Avis : 👎 (Incomplet; il manque Quimper)" in text
    document = json.loads(json.dumps(conversation_json(got)))
    assert document["id"] == conv.id and len(document["turns"]) == 2
    assert document["turns"][0]["timings"] == {"first_token_ms": 50.0, "total_ms": 400.0}
    assert document["turns"][0]["feedback"]["reasons"] == ["Incomplet"]
