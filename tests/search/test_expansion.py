"""Thesaurus query expansion: the file format and its errors, which terms a question adds
and at what weight, weighted BM25 on a real index, and the retriever reading the file
through Services (re-read when it changes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rag.config import ROOT
from rag.errors import ConfigError
from rag.index.lexical import Analyzer, LexicalIndex
from rag.search.expansion import SYNONYM_WEIGHT, Thesaurus, load_thesaurus, parse_thesaurus
from rag.services import Services
from rag.types import Chunk
from tests.support.index_helpers import fiche, make_settings, write_corpus

ANALYSE = Analyzer().terms


def _thesaurus(text: str) -> Thesaurus:
    return parse_thesaurus(text, ANALYSE)


def test_format_comments_blank_lines_and_multiword_terms():
    thesaurus = _thesaurus("# commentaire\n\nmairie, hôtel de ville, town hall\n  MSAP ,maison de services au public\n")
    assert len(thesaurus.groups) == 2
    mairie, msap = thesaurus.groups
    assert tuple(ANALYSE("hôtel de ville")) in mairie and len(mairie) == 3
    assert tuple(ANALYSE("MSAP")) in msap


def test_a_group_of_one_term_is_a_french_error_naming_its_line():
    with pytest.raises(ConfigError, match="ligne 3 .*au moins deux termes"):
        _thesaurus("mairie, hôtel de ville\n# ok\nguichet comptoir\n")
    with pytest.raises(ConfigError, match="ligne 1"):
        _thesaurus("le, la, les\n")  # only stop words: no usable term


def test_expand_adds_the_other_members_at_a_lower_weight_split_over_their_words():
    thesaurus = _thesaurus("mairie, hôtel de ville\nguichet, comptoir\n")
    added = thesaurus.expand(ANALYSE("Combien a coûté le hall de l'hôtel de ville ?"), weight=0.4)
    assert added == {ANALYSE("mairie")[0]: 0.4}
    added = thesaurus.expand(ANALYSE("l'accueil en mairie"), weight=0.4)
    assert added == {stem: 0.2 for stem in ANALYSE("hôtel ville")}
    assert thesaurus.expand(ANALYSE("un hôtel du centre ville")) == {}  # words not consecutive
    assert thesaurus.expand(ANALYSE("la mairie et son hôtel de ville")) == {}  # both present


def test_missing_file_means_no_expansion_and_unreadable_file_is_an_error(tmp_path: Path, caplog):
    assert load_thesaurus(tmp_path / "absent.txt", ANALYSE) == Thesaurus()
    assert "absent" in caplog.text
    with pytest.raises(ConfigError, match="illisible"):
        load_thesaurus(tmp_path, ANALYSE)  # a folder
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"mairie, h\xf4tel de ville\n")  # Latin-1, not UTF-8
    with pytest.raises(ConfigError, match="illisible"):
        load_thesaurus(bad, ANALYSE)


def test_bundled_thesaurus_loads_and_expands_acronyms():
    thesaurus = load_thesaurus(ROOT / "corpus" / "synonyms.txt", ANALYSE)
    assert len(thesaurus.groups) > 50
    added = thesaurus.expand(ANALYSE("ouverture d'une MSAP"))
    assert set(ANALYSE("maison de services au public")) <= set(added)
    assert all(0 < w <= SYNONYM_WEIGHT for w in added.values())


def _chunk(i: int, text: str) -> Chunk:
    return Chunk(id=f"f{i}::s::0", fiche_id=f"f{i}", title=f"Fiche {i}", section="s", text=text)


def test_weighted_bm25_is_plain_bm25_for_unit_weights_and_scales_per_term():
    chunks = [_chunk(0, "La mairie rénove son hall."), _chunk(1, "Un guichet unique à la préfecture."),
              _chunk(2, "La mairie et la préfecture travaillent ensemble.")]
    index = LexicalIndex.build(chunks, "fp")
    assert index.search_weighted({t: 1.0 for t in ANALYSE("mairie hall")}, 3) == index.search("mairie hall", 3)
    mairie, prefecture = ANALYSE("mairie préfecture")
    alone = index.scores({prefecture: 1.0})
    assert np.allclose(index.scores({prefecture: 0.25}), 0.25 * alone)
    assert np.allclose(index.scores({mairie: 1.0, prefecture: 0.5}), index.scores({mairie: 1.0}) + 0.5 * alone)
    assert index.search_weighted({"inconnu": 1.0}, 3) == [] and index.search_weighted({}, 3) == []
    assert [c.id for c, _ in index.search_weighted({prefecture: 1.0}, 3, np.array([True, False, False]))] == []


def test_retriever_expands_bm25_with_the_file_and_rereads_it_when_it_changes(tmp_path: Path):
    fiches = [fiche("brest", "Accueil à Brest", {"Description": "Réaménagement de la mairie et de ses guichets."}),
              fiche("quimper", "Accueil à Quimper", {"Description": "Une commune qui forme ses agents."})]
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("mairie, hôtel de ville\n", encoding="utf-8")
    settings = make_settings(tmp_path, write_corpus(fiches, tmp_path / "fiches"), synonyms_path=synonyms)
    services = Services(settings)
    services.ensure_index()
    question = "l'hôtel de ville"  # words the fiches lack: found through the thesaurus only
    assert [h.chunk.fiche_id for h in services.retriever.search(question, k=2, mode="bm25")] == ["brest"]
    synonyms.write_text("# vide\nguichet, comptoir\n", encoding="utf-8")
    stat = synonyms.stat()
    os.utime(synonyms, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert services.retriever.search(question, k=2, mode="bm25") == []
    synonyms.write_text("hôtel de ville\n", encoding="utf-8")
    os.utime(synonyms, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))
    with pytest.raises(ConfigError, match="ligne 1"):
        services.retriever.search(question, k=2, mode="bm25")
