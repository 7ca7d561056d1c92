"""The chat's sidebar settings: filter chips from the catalogue, answer engine, model,
temperature, number of passages; and the Markdown export of the open conversation.

The API key itself is never read here: only the *name* of its environment variable is
shown, with whether it is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import streamlit as st

from rag.answer.backends import REGISTRY
from rag.catalogue.fiche import Fiche
from rag.config import Settings
from rag.markdown import escape_markdown
from rag.search.filters import FILTER_FIELDS, facet_values
from rag.ui.state import ChatState

PILLS_MAX = 12
"""Up to this many values a facet is shown as chips; beyond, as a searchable chip picker."""


@dataclass
class ChatOptions:
    """What the user chose in the sidebar."""

    backend: str
    k: int
    filters: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, object] = field(default_factory=dict)


def _engine(settings: Settings) -> tuple[str, dict[str, object]]:
    """Backend choice and its LLM options (model, temperature) when it uses an LLM."""
    names = sorted(REGISTRY)
    default = names.index(settings.backend) if settings.backend in names else 0
    if settings.backend not in names:  # a typo in RAG_BACKEND must not pass unnoticed
        st.warning(f"Moteur inconnu dans RAG_BACKEND : « {escape_markdown(settings.backend)} » ; valides : "
                   f"{', '.join(names)}. Moteur « {names[default]} » utilisé.", icon=":material/warning:")
    backend = st.selectbox("Moteur de réponse", names, index=default, key="opt_backend")
    overrides: dict[str, object] = {}
    if REGISTRY[backend].uses_llm:
        model = st.text_input("Modèle", value=settings.llm_model or "", key="opt_model")
        overrides["model"] = model.strip() or None
        overrides["temperature"] = st.slider(
            "Température", 0.0, 1.5, float(settings.temperature), 0.05, key="opt_temperature"
        )
        st.caption(f"Serveur : `{settings.llm_base_url or 'par défaut du moteur'}`")
        state = "définie" if os.environ.get(settings.llm_api_key_env) else "non définie"
        st.caption(f"Clé API : variable `{settings.llm_api_key_env}` ({state})")
    else:
        st.caption("Réponse extractive : citations exactes des fiches, sans modèle de langue.")
    if not REGISTRY[backend].needs_network:
        st.caption("Fonctionne hors ligne : la question ne quitte pas cette machine.")
    return backend, overrides


def _chip(value: str) -> str:
    """A chip label: chip labels are Markdown, corpus values must render literally."""
    return escape_markdown(value, line_breaks=False)


def _facet_chip(key: str, label: str, values: list[str]) -> str | None:
    """One filter as chips (single choice); ``None`` when nothing is selected."""
    widget_key = f"filter_{key}"
    if len(values) <= PILLS_MAX:
        return st.pills(label, values, selection_mode="single", key=widget_key, format_func=_chip)
    picked = st.multiselect(label, values, max_selections=1, key=widget_key, placeholder="Tous")
    return picked[0] if picked else None


def _filters(fiches: list[Fiche]) -> dict[str, str]:
    """The filter chips, filled from the catalogue."""
    facets = facet_values(fiches)
    chosen: dict[str, str] = {}
    for key, spec in FILTER_FIELDS.items():
        if facets.get(key):
            value = _facet_chip(key, spec.label, facets[key])
            if value:
                chosen[key] = value
    return chosen


def render_settings(settings: Settings, fiches: list[Fiche]) -> ChatOptions:
    """Draw the filters and settings (in the sidebar) and return the user's choices."""
    with st.sidebar:
        st.subheader("Filtres", anchor=False)
        filters = _filters(fiches)
        st.subheader("Réglages", anchor=False)
        backend, overrides = _engine(settings)
        k = st.slider("Nombre de passages", 1, 15, settings.top_k, key="opt_k")
    return ChatOptions(backend=backend, k=k, filters=filters, overrides=overrides)


def render_export(chat: ChatState) -> None:
    """The export button, drawn at the end of the sidebar (after this run's answer)."""
    with st.sidebar:
        st.download_button(
            "Exporter la conversation (Markdown)",
            data=chat.markdown(),
            file_name=chat.export_name(),
            mime="text/markdown",
            disabled=not chat.turns,
            icon=":material/download:",
            on_click="ignore",
        )
