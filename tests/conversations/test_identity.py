"""Who owns a conversation: the desktop user, or an id from the OIDC claims."""

from __future__ import annotations

import pytest

from rag.conversations import LOCAL_USER, user_id_from_claims
from rag.errors import InputError


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

