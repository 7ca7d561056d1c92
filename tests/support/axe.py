"""axe-core (Deque's accessibility engine, the npm package ``axe-core``) run inside the
real Chromium page by the browser tests.

``scripts/setup.sh --test`` installs the pinned version into a cache outside the repo;
:func:`audit` injects ``axe.min.js`` into the page and returns the violations of the
WCAG 2.0/2.1 A and AA rules and axe's best practices, as readable lines.

What the app renders is audited; Streamlit's own chrome is excluded (:data:`EXCLUDED`):
the toolbar/header and the status widget, which the app does not write. The page's
``lang="en"`` (``html-lang-valid`` passes: "en" is valid, merely wrong) is a known
limit documented in docs/readme/chat.md, not something axe can flag.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

AXE_VERSION = "4.14.1"
AXE_JS = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fiches-rag"
          / f"axe-core-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
EXCLUDED = ["[data-testid='stHeader']", "[data-testid='stToolbar']", "[data-testid='stStatusWidget']",
            "[data-testid='stDecoration']"]
"""Streamlit's chrome, not written by the app."""


def audit(page: Page, within: str | None = None) -> list[str]:
    """The axe violations of the page (or of the element matching ``within``): one line
    per rule and node, ``rule (impact): target — summary``."""
    if not AXE_JS.exists():
        raise RuntimeError(f"axe-core missing ({AXE_JS}): run `scripts/setup.sh --test`")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    context = {"include": [[within or "html"]], "exclude": [[s] for s in EXCLUDED]}
    result = page.evaluate(
        "([context, tags]) => axe.run(context, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        [context, TAGS],
    )
    return [f"{v['id']} ({v['impact']}): {' '.join(map(str, node['target']))} — {node['failureSummary']}"
            for v in result["violations"] for node in v["nodes"]]
