"""Who owns a conversation: every store method takes a ``user_id``, and a user only
ever sees their own conversations and feedback.

* Desktop mode (no login configured): one local user, :data:`LOCAL_USER`.
* OIDC login (Streamlit's ``st.login`` with an ``[auth]`` section in
  ``.streamlit/secrets.toml``; ProConnect is OIDC): the user id is built from the ID
  token's issuer and subject, ``st.user["iss"]`` and ``st.user["sub"]``, which the
  provider guarantees stable and unique, unlike an e-mail address that can change::

      user_id = user_id_from_claims(st.user.to_dict()) if st.user.is_logged_in else LOCAL_USER
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from rag.conversations.schema import USER_LENGTH
from rag.errors import InputError

LOCAL_USER = "local"
"""The one user of desktop mode (no login)."""


def user_id_from_claims(claims: Mapping[str, object]) -> str:
    """``oidc:<iss>|<sub>`` from an OIDC ID token's claims (``st.user``); hashed when too
    long for the column. An identity without ``sub`` is refused (InputError)."""
    subject, issuer = claims.get("sub"), claims.get("iss") or ""
    if not isinstance(subject, str) or not subject.strip():
        raise InputError(
            "Connexion : le fournisseur d'identité n'a pas transmis d'identifiant (« sub ») ; "
            "impossible de rattacher les conversations à votre compte."
        )
    user_id = f"oidc:{issuer}|{subject.strip()}"
    if len(user_id) > USER_LENGTH:
        user_id = "oidc-sha256:" + hashlib.sha256(user_id.encode()).hexdigest()
    return user_id
