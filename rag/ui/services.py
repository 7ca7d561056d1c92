"""Long-lived objects for the Streamlit pages: one :class:`~rag.services.Services` per
distinct settings, shared by every session (``st.cache_resource``), and the first-start
index build shown with a progress bar.

The cache is keyed by the settings' JSON, so tests (or a restart with other env vars)
never get a Services object built for other settings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rag.config import Settings, load_settings
from rag.index.indexing import IndexReport
from rag.services import Services

log = logging.getLogger("rag.ui")


@dataclass
class AppServices:
    """The shared Services plus a flag saying the index was checked in this process."""

    services: Services
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False


@st.cache_resource(show_spinner=False)
def _cached(settings_json: str) -> AppServices:
    """One AppServices per settings (the JSON is the cache key)."""
    return AppServices(Services(Settings.model_validate_json(settings_json)))


def current_settings() -> Settings:
    """Settings from the environment / ``.env`` / ``rag.toml`` (read at each run, cheap)."""
    return load_settings()


def get_app_services() -> AppServices:
    """The AppServices for the current settings."""
    return _cached(current_settings().model_dump_json())


def _progress_callback(bar: DeltaGenerator) -> Callable[[int, int], None]:
    """A ``progress_cb`` for ``index_corpus``'s ``on_progress(done, total)``."""

    def callback(done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 0, text="Indexation du catalogue…")

    return callback


def ensure_ready(app: AppServices) -> Services:
    """Build or update the index and preload the model (:meth:`Services.preload`) once
    per process, showing progress in a status box. Concurrent sessions wait on the lock
    instead of indexing twice."""
    if app.ready:
        return app.services
    with app.lock:
        if not app.ready:
            with st.status("Préparation du catalogue (modèle et index)…", expanded=True) as box:
                bar = st.progress(0, text="Lecture des fiches…")
                report = app.services.ensure_index(progress_cb=_progress_callback(bar))
                bar.progress(1.0, text="Chargement du modèle et du profil du catalogue…")
                app.services.preload()  # the first question waits for nothing more than the next
                bar.progress(1.0, text="Index prêt.")
                box.update(label=_report_label(report), state="complete", expanded=False)
            app.ready = True
    return app.services


def _report_label(report: IndexReport | None) -> str:
    """A one-line French summary of an IndexReport (or "à jour")."""
    if report is None:
        return "Index à jour."
    return f"Index prêt : {report.added} ajoutés, {report.updated} mis à jour, {report.removed} supprimés."
