"""What the API (``serve``) loads at start-up, so that the first question is answered
as fast as the next ones."""

from __future__ import annotations

import logging

from rag.services import Services

log = logging.getLogger(__name__)


def warm_up(services: Services) -> None:
    """Index if needed (said in the log), then :meth:`Services.preload`."""
    report = services.ensure_index()
    if report is not None:
        log.warning("index construit / mis à jour au démarrage : %s", report.to_json())
    services.preload()
