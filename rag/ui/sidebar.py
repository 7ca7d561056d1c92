"""The chat's sidebar settings: filter chips from the catalogue, answer engine, its
server address, model, context window and temperature, number of passages; and the
Markdown export of the open conversation.

The API key itself is never read here: only the *name* of its environment variable is
shown, with whether it is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rag.answer.backends import REGISTRY, backend_options, takes_llm_base_url
from rag.catalogue.fiche import Fiche
from rag.config import Settings
from rag.errors import RagError
from rag.markdown import escape_markdown
from rag.search.filters import FILTER_FIELDS, facet_values
from rag.services import Services
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
    window_slot: DeltaGenerator | None = field(default=None, repr=False)  # filled by render_window


def _address(settings: Settings, backend: str) -> tuple[str, str]:
    """The address engine ``backend`` starts on (its options' ``base_url``: the rule of
    :mod:`rag.answer.backends`) and the field's help saying where it comes from."""
    try:
        url = str(getattr(backend_options(backend, settings), "base_url", ""))
    except RagError:  # a malformed RAG_LLM_BASE_URL: shown as set, refused in French in the window line
        url = settings.llm_base_url or ""
    if settings.llm_base_url and takes_llm_base_url(backend, settings):
        origin = "réglage RAG_LLM_BASE_URL"
    else:
        origin = f"adresse par défaut du moteur « {backend} »"
        if settings.llm_base_url:
            origin += f" ; RAG_LLM_BASE_URL est celle du moteur « {escape_markdown(settings.backend)} » (RAG_BACKEND)"
    return url, f"Adresse du serveur du modèle ({origin})."


def _engine(settings: Settings) -> tuple[str, dict[str, object], DeltaGenerator | None]:
    """Backend choice and, when it uses an LLM, its options (server address, model,
    temperature) and the slot of its context-window line."""
    names = sorted(REGISTRY)
    default = names.index(settings.backend) if settings.backend in names else 0
    if settings.backend not in names:  # a typo in RAG_BACKEND must not pass unnoticed
        st.warning(f"Moteur inconnu dans RAG_BACKEND : « {escape_markdown(settings.backend)} » ; valides : "
                   f"{', '.join(names)}. Moteur « {names[default]} » utilisé.", icon=":material/warning:")
    backend = st.selectbox("Moteur de réponse", names, index=default, key="opt_backend")
    overrides: dict[str, object] = {}
    slot = None
    if REGISTRY[backend].uses_llm:
        address, where = _address(settings, backend)
        url = st.text_input("Serveur (URL)", value=address, key=f"opt_base_url_{backend}", help=where)
        overrides["base_url"] = url.strip() or None
        model = st.text_input("Modèle", value=settings.llm_model or "", key="opt_model")
        overrides["model"] = model.strip() or None
        slot = st.empty()
        overrides["temperature"] = st.slider(
            "Température", 0.0, 1.5, float(settings.temperature), 0.05, key="opt_temperature"
        )
        state = "définie" if os.environ.get(settings.llm_api_key_env) else "non définie"
        st.caption(f"Clé API : variable `{settings.llm_api_key_env}` ({state})")
    else:
        st.caption("Réponse extractive : citations exactes des fiches, sans modèle de langue.")
    if not REGISTRY[backend].needs_network:
        st.caption("Fonctionne hors ligne : la question ne quitte pas cette machine.")
    return backend, overrides, slot


def render_window(options: ChatOptions, services: Services) -> None:
    """Fill the context-window line at the end of the run, so it shows what this run's
    answer taught (a server refusing a prompt names its window). The first call may ask
    the server once per engine, server and model (an unreachable one again after 30 s);
    an unusable address is said here in French."""
    if options.window_slot is None:
        return
    try:
        window = services.backend(options.backend, **options.overrides).context_window()
    except RagError as exc:
        options.window_slot.error(escape_markdown(str(exc)), icon=":material/error:")
        return
    if window is None:
        options.window_slot.empty()
        return
    tokens = f"{window.tokens:,}".replace(",", "\u202f")
    options.window_slot.caption(f"Fenêtre de contexte : {tokens} tokens · {escape_markdown(window.source)}",
                                help="Ce que le modèle lit au plus : consignes, question, passages et réponse.")


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
        backend, overrides, slot = _engine(settings)
        k = st.slider("Nombre de passages", 1, 15, settings.top_k, key="opt_k")
    return ChatOptions(backend=backend, k=k, filters=filters, overrides=overrides, window_slot=slot)


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
