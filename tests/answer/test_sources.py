"""rag.answer.sources: hits -> sources (links, spam masking), cited sources first, and the
one-line evidence summary."""

from __future__ import annotations

from rag.answer.sources import evidence_summary, make_sources, numbering, order_sources
from rag.catalogue.fiche import LIEN, Fiche
from rag.types import Chunk, Hit, Passage, Source

DENYLIST = ["floodcrm"]


def chunk(fiche_id: str, section: str, text: str, **metadata: str) -> Chunk:
    return Chunk(id=f"{fiche_id}::{section}", fiche_id=fiche_id, title=f"Titre {fiche_id}", section=section,
                 text=text, metadata=metadata)


def fiche(fiche_id: str, link: str) -> Fiche:
    return Fiche(id=fiche_id, title=f"Titre {fiche_id}", sections={"Description": "Texte."},
                 metadata={LIEN: link} if link else {})


FICHES = {f.id: f for f in [fiche("brest", "https://brest.fr/accueil"), fiche("lyon", "javascript:alert(1)"),
                             fiche("spam", "https://floodcrm.email/promo"), fiche("nolink", "")]}
HITS = [
    Hit(chunk("brest", "Description", "Accueil repensé.", ville="Brest", echelle="Commune",
              acteur="Mairie de Brest", type_acteur="Collectivité"), 0.9),
    Hit(chunk("lyon", "Réalisations", "Médiation numérique."), 0.7),
    Hit(chunk("spam", "Description", "Réservez sur www.floodcrm.email dès maintenant."), 0.5),
    Hit(chunk("absent", "Description", "Une fiche retirée du catalogue."), 0.3),
]


def test_make_sources_numbers_hits_in_rank_order_with_their_metadata() -> None:
    sources = make_sources(HITS, FICHES, DENYLIST)
    assert [(s.n, s.fiche_id, s.score) for s in sources] == [(1, "brest", 0.9), (2, "lyon", 0.7), (3, "spam", 0.5),
                                                             (4, "absent", 0.3)]
    first = sources[0]
    assert (first.title, first.section, first.text) == ("Titre brest", "Description", "Accueil repensé.")
    assert (first.ville, first.echelle, first.acteur, first.type_acteur) == (
        "Brest", "Commune", "Mairie de Brest", "Collectivité")
    assert not any(s.cited for s in sources)


def test_make_sources_keeps_only_safe_links_and_masks_spam() -> None:
    sources = make_sources(HITS, FICHES, DENYLIST)
    assert [s.url for s in sources] == ["https://brest.fr/accueil", "", "", ""]  # javascript:, deny-listed, no fiche
    assert sources[2].text == "Réservez sur [lien retiré] dès maintenant."
    unguarded = make_sources(HITS, FICHES)  # no deny-list: the link and the text stay as they are
    assert unguarded[2].url == "https://floodcrm.email/promo" and "www.floodcrm.email" in unguarded[2].text


def test_order_sources_puts_the_cited_first_in_order_of_first_citation() -> None:
    sources = make_sources(HITS, FICHES)

    def order(cited: list[int]) -> list[Source]:
        return order_sources(sources, cited, numbering((s.n for s in sources), cited))

    ordered = order([3, 1])  # as CitationCheck.cited lists them: each once
    assert [s.fiche_id for s in ordered] == ["spam", "brest", "lyon", "absent"]
    assert [s.cited for s in ordered] == [True, True, False, False]
    assert [s.fiche_id for s in order([])] == ["brest", "lyon", "spam", "absent"]
    assert [s.fiche_id for s in order([9])] == ["brest", "lyon", "spam", "absent"]  # unknown [9]
    assert not any(s.cited for s in sources)  # the originals are left untouched


def passage(n: int, fiche_id: str) -> Passage:
    return Passage(n=n, chunk=chunk(fiche_id, f"Section {n}", "Texte."))


def source(n: int, fiche_id: str) -> Source:
    return Source(n=n, fiche_id=fiche_id, title="T", section="S", text="x", url="", cited=True)


def test_evidence_summary_says_what_the_answer_rests_on() -> None:
    given = [passage(1, "brest"), passage(2, "brest"), passage(3, "lyon")]
    assert evidence_summary(given, [source(1, "brest")], False) == "1 passage d'une initiative"
    assert evidence_summary(given, [source(1, "brest"), source(2, "brest"), source(3, "lyon")], False) == (
        "3 passages de 2 initiatives")
    assert evidence_summary(given, [], False) == "aucune citation (3 passages de 2 initiatives fournis)"
    assert evidence_summary([], [], False) == "aucun passage"
    assert evidence_summary(given, [source(1, "brest")], True) == "aucun passage suffisamment pertinent"
