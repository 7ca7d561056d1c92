"""The Catalogue page as a practitioner uses it (found by exploratory QA, run in-process
with AppTest on the bundled catalogue): searching by place, the commune chart, the
comparison read on a phone, the page's state after a visit to another page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.support import ui_fixtures as ui
from tests.support.ui_fixtures import ROOT, unescape

BREST = "accueil-en-mairie-de-brest"
NANTES_SUD = "co-conception-de-la-mairie-de-nantes-sud"
CATALOGUE = "pages/1_Catalogue.py"
TIMEOUT = 120


def start(page: str = CATALOGUE) -> AppTest:
    return ui.start(page, TIMEOUT)


def found(at: AppTest) -> list[str]:
    """Titles of the fiches the search lists."""
    return [unescape(e.label) for e in at.expander if not e.label.startswith("Données")]


def search(at: AppTest, query: str) -> list[str]:
    at.text_input[0].input(query).run()
    assert not at.exception, [e.value for e in at.exception]
    return found(at)


def chart_table(at: AppTest, title: str) -> dict[str, int]:
    """The table under the chart ``title`` (« Par région »…): value -> number of fiches."""
    tables = [e for e in at.expander if e.label == f"Données du graphique « {title} »"]
    assert tables, [e.label for e in at.expander]
    frame = tables[0].table[0].value
    return {str(value): int(n) for value, n in frame["Fiches"].items()}


def shown(node: Any) -> list[str]:
    """Markdown and captions under ``node``, in page order."""
    if node.type in ("markdown", "caption"):
        return [node.value]
    return [text for child in getattr(node, "children", {}).values() for text in shown(child)]


def test_nothing_is_drawn_above_the_title(app_env: Path) -> None:
    """A bare string in a page script is drawn by Streamlit's magic (a constant's
    docstring appeared above the title)."""
    at = start()
    assert not [m.value for m in at.main.children.values() if m.type == "markdown"]


def test_search_finds_the_fiches_of_a_departement_number_and_of_a_region(app_env: Path) -> None:
    """« 29 » found nothing (the département, « Finistère (29) », was not searched) and
    « Bretagne » 2 fiches where the région chart counts 4."""
    at = start()
    regions = chart_table(at, "Par région")
    assert len(search(at, "Bretagne")) == regions["Bretagne"]
    assert len(search(at, "pays de la loire")) == regions["Pays de la Loire"]
    finistere = search(at, "29")
    assert "Accueil en Mairie de brest" in finistere and "L'accueil en CDAS, Département du Finistère" in finistere
    assert search(at, "Finistère (29)") == finistere


def test_a_number_matches_whole_numbers_only(app_env: Path) -> None:
    """« 29 » is the Finistère, not any number holding the digits 2 and 9."""
    at = start()
    assert search(at, "29") == search(at, "Finistère")
    assert search(at, "xyzzy 29") == []


def test_the_place_chart_counts_communes_not_the_raw_ville_field(app_env: Path) -> None:
    """The « Par ville » chart counted the raw field: « 106 rue Pierre Corneille, Lyon »,
    « Bretagne » and « vendée » were villes; the commune chart counts the place."""
    at = start()
    communes = chart_table(at, "Par commune")
    assert communes["Nantes"] == 2 and communes["Lyon"] == 1 and communes["Saint-Méen-le-Grand"] == 1
    assert not {"Bretagne", "vendée", "106 rue Pierre Corneille, Lyon"} & set(communes)
    assert list(communes.values()) == sorted(communes.values(), reverse=True)


def test_every_chart_is_tall_enough_for_one_label_per_bar(app_env: Path) -> None:
    """At 260 px, a chart of 8+ bars showed every other label (Vega drops overlapping ones)."""
    at = start()
    charts, tables = at.get("vega_lite_chart"), at.table  # each chart is followed by its table
    assert len(charts) == len(tables) == 4
    for chart, table in zip(charts, tables, strict=True):
        bars, height = len(table.value), json.loads(chart.proto.spec)["height"]
        assert height >= 24 * bars + 60, (table.value.index.tolist(), height)


def test_each_compared_section_names_its_fiche(app_env: Path) -> None:
    """On a phone the columns stack: each boxed section must say which fiche it is from."""
    at = start()
    at.multiselect(key="compare").set_value([BREST, NANTES_SUD]).run()
    assert not at.exception
    texts = [unescape(text) for text in shown(at.tabs[2])]
    description = texts.index("### Description")
    after = texts[description + 1:description + 5]
    assert any("Accueil en Mairie de brest" in t for t in after[:2]), after
    assert any("Co-conception de la Mairie de Nantes Sud" in t for t in after[2:]), after


def test_search_and_comparison_are_kept_after_a_visit_to_another_page(app_env: Path) -> None:
    """Back from the Assistant, the search box was empty and the comparison gone."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page(CATALOGUE).run()
    at.text_input[0].input("Nantes").run()
    at.multiselect(key="compare").set_value([BREST, NANTES_SUD]).run()
    kept = found(at)
    at.switch_page("pages/2_Retours.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(CATALOGUE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input[0].value == "Nantes" and found(at) == kept
    assert at.multiselect(key="compare").value == [BREST, NANTES_SUD]
