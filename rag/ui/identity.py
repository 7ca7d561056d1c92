"""Who is using the page: the one local user (no login configured), or the user logged in
with Streamlit's OIDC login (``st.login``; an ``[auth]`` section in
``.streamlit/secrets.toml``; ProConnect is OIDC). Conversations and feedback belong to
that id (see :mod:`rag.conversations.identity`).

When a login is configured, nobody is anonymous: pages call :func:`require_user`, which
shows the login button and stops the page until the user is logged in.
"""

from __future__ import annotations

import logging

import streamlit as st

from rag.conversations import LOCAL_USER, user_id_from_claims

log = logging.getLogger("rag.ui")

LEADS_SECTION = "retours"
"""``[retours] responsables = ["oidc:…", "agent@exemple.gouv.fr"]`` in secrets.toml: the
users (ids or e-mail addresses) whose Retours page lists everyone's feedback."""


def auth_configured() -> bool:
    """Is an OIDC login configured (an ``[auth]`` section in the secrets)?"""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no or unreadable secrets file: no login
        return False


def logged_in() -> bool:
    return bool(auth_configured() and st.user.is_logged_in)


def current_user() -> str:
    """The user id conversations and feedback are filed under."""
    if logged_in():
        return user_id_from_claims(st.user.to_dict())
    return LOCAL_USER


def require_user() -> str:
    """The user id; with a login configured and nobody logged in, the login button
    instead, and the page stops there."""
    if auth_configured() and not st.user.is_logged_in:
        st.info("Connectez-vous pour utiliser l'assistant : vos conversations et vos avis sont "
                "rattachés à votre compte.", icon=":material/login:")
        st.button("Se connecter", on_click=st.login, icon=":material/login:", type="primary")
        st.stop()
    return current_user()


def account_box() -> None:
    """In the sidebar, with a login configured: who is connected, and a logout button."""
    if not logged_in():
        return
    name = st.user.get("name") or st.user.get("email") or "compte connecté"
    st.caption(f"Connecté : {name}")
    st.button("Se déconnecter", on_click=st.logout, icon=":material/logout:")


def is_lead(user_id: str) -> bool:
    """Does the Retours page show ``user_id`` everyone's feedback? Always in desktop mode
    (one local user); with a login, when the id or e-mail is listed in the secrets."""
    if user_id == LOCAL_USER:
        return True
    try:
        leads = set(st.secrets.get(LEADS_SECTION, {}).get("responsables", []))
    except Exception:  # noqa: BLE001 - unreadable secrets: nobody is a lead
        log.exception("cannot read [%s] in the secrets", LEADS_SECTION)
        return False
    return user_id in leads or (st.user.get("email") or "") in leads
