"""Hybrid retrieval contract (embedded client and a real `chroma run` server): filters,
diversification, fusion, bad input, concurrency; plus the server stopped mid-session and
one check with the real default embedder ("use"). Fusion itself: test_fusion.py; filter
inference and facets: test_filters.py."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.catalogue.catalogue import Catalogue
from rag.errors import InputError, StoreUnavailable
from rag.index.indexing import index_corpus
from rag.search.filters import FILTER_FIELDS, value_matches
from rag.search.retrieval import Retriever, check_k
from rag.services import Services
from rag.types import Chunk
from tests.support.chroma_server import ChromaServer
from tests.support.index_helpers import fiche, import_seed, make_settings, write_corpus

GUICHET = {s: f"Le guichet numéro {i} accueille les usagers au guichet." for i, s in enumerate(
    ["Description", "Enjeux", "Convictions", "Méthodologie mise en place", "Réalisations", "Pour aller plus loin"])}

EXTRA = [
    fiche("guichets", "Les guichets de Quimper", GUICHET, ville="Quimper", echelle="Commune",
          partenaires=["Agence DETEA", "Ville de Quimper"], types=["Commune", "Association"]),
    fiche("lyon-bis", "Accueil des guichets à Lyon", {"Description": "Un guichet unique pour les étrangers."},
          ville="12 rue Sala, Lyon", echelle="Quartier", partenaires=["Préfecture du Rhône"], types=["Etat"]),
]


@pytest.fixture(scope="session")
def seed(tmp_path_factory):
    return Catalogue(import_seed(tmp_path_factory.mktemp("seed-r") / "fiches"))


def test_check_k_accepts_unset_and_positive_refuses_the_rest_in_french():
    for fine in (None, 1, 50):
        check_k(fine)
    for bad in (0, -3):
        with pytest.raises(InputError, match=rf"^k doit valoir au moins 1 \(reçu : {bad}\)$"):
            check_k(bad)


class RetrievalContract:
    """Subclasses provide ``settings`` (class-scoped)."""

    @pytest.fixture(scope="class")
    @classmethod
    def services(cls, settings):
        index_corpus(settings)
        return Services(settings)

    def test_each_fiche_found_by_its_title(self, services):
        for fid, f in services.fiches.items():
            assert fid in [h.chunk.fiche_id for h in services.retriever.search(f.title, k=5)]

    @pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
    def test_modes_rank_by_descending_score(self, services, mode):
        hits = services.retriever.search("accueil des usagers en mairie", k=8, mode=mode)
        assert len(hits) == 8 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    @pytest.mark.parametrize("filters", [{"commune": "BREST"}, {"departement": "vendee"}, {"partenaire": "detea"},
                                         {"commune": "lyon"}, {"region": "bretagne"}, {"departement": "29"},
                                         {"type_acteur": "association", "echelle": "commune"}])
    def test_filters_return_exactly_the_matching_fiches(self, services, filters):
        expected = {fid for fid, f in services.fiches.items() if all(
            any(value_matches(v, x) for x in f.values(FILTER_FIELDS[k].fiche_field)) for k, v in filters.items())}
        assert expected
        for mode in ("hybrid", "dense", "bm25"):
            hits = services.retriever.search("accueil guichet usagers", k=50, mode=mode, filters=filters)
            assert {h.chunk.fiche_id for h in hits} <= expected
        assert {h.chunk.fiche_id for h in services.retriever.search("accueil", k=50, filters=filters)} == expected

    def test_filtered_dense_over_fetch_path_gives_the_same_hits(self, services):
        class OverFetching(Retriever):
            max_ids = 3  # every filter below allows more chunks: over-fetch then filter

        base = services.retriever
        other = OverFetching(base.store, base.lexical, base.embedder, base.settings)
        for filters in ({"commune": "Nantes"}, {"partenaire": "Agence Grrr"}, {"echelle": "quartier"}):
            for query in ("accueil des usagers", "guichet", "co-conception"):
                def found(retriever, query=query, filters=filters):
                    hits = retriever.search(query, k=8, mode="dense", filters=filters)
                    return [(h.chunk.id, round(h.score, 5)) for h in hits]

                expected = found(base)
                assert expected
                assert found(other) == expected

    def test_one_fiche_cannot_fill_the_top_k(self, services):
        hits = services.retriever.search("guichet", k=6)
        per_fiche = [h.chunk.fiche_id for h in hits].count("guichets")
        assert per_fiche == services.settings.max_per_fiche and len({h.chunk.fiche_id for h in hits}) >= 3

    def test_bad_inputs(self, services, caplog):
        search = services.retriever.search
        for empty in ("", "   \n\t ", "\x00\x01"):
            with pytest.raises(InputError, match="question vide"):
                search(empty)
        with pytest.raises(InputError, match="filtres valides : commune, departement, region, echelle, type_acteur"):
            search("accueil", filters={"couleur": "bleu"})
        with pytest.raises(InputError, match="valides : hybrid, dense, bm25"):
            search("accueil", mode="fuzzy")
        for k in (0, -2):
            with pytest.raises(InputError, match=rf"^k doit valoir au moins 1 \(reçu : {k}\)$"):
                search("accueil", k=k)
        with caplog.at_level(logging.WARNING, logger="rag.search.retrieval"):
            long_hits = search("guichet accueil " * 1250)  # 20,000 characters
        assert long_hits and "Question trop longue" in caplog.text
        cleaned = [h.chunk.id for h in search("gui chet accueil")]
        assert [h.chunk.id for h in search("gui\x00chet\x07 accueil")] == cleaned

    def test_concurrent_queries_equal_sequential(self, services):
        modes, filters = ["hybrid", "dense", "bm25"], [None, {"commune": "Nantes"}, {"partenaire": "Agence Grrr"}]
        titles = [f.title for f in services.fiches.values()]
        queries = [(f"{titles[i % len(titles)]} accueil", modes[i % 3], filters[i % 5 % 3]) for i in range(50)]

        def run(batch):
            return [[(h.chunk.id, round(h.score, 6)) for h in services.retriever.search(q, k=6, mode=m, filters=f)]
                    for q, m, f in batch]

        sequential = run(queries)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(run, [queries] * 8))
        assert all(result == sequential for result in results)


@pytest.fixture(scope="class")
def corpus_dir(tmp_path_factory, seed):
    return write_corpus([*seed.values(), *EXTRA], tmp_path_factory.mktemp("corpus") / "fiches")


class TestEmbeddedRetrieval(RetrievalContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory, corpus_dir):
        return make_settings(tmp_path_factory.mktemp("embedded"), corpus_dir)


@pytest.mark.server
class TestServerRetrieval(RetrievalContract):
    @pytest.fixture(scope="class")
    @classmethod
    def settings(cls, tmp_path_factory, corpus_dir, chroma_server):
        return make_settings(tmp_path_factory.mktemp("server"), corpus_dir, chroma_url=chroma_server.url)

    def test_server_stopped_mid_session_then_recovers(self, tmp_path, corpus_dir):
        server = ChromaServer(tmp_path / "db").start()
        try:
            services = Services(make_settings(tmp_path, corpus_dir, chroma_url=server.url))
            services.ensure_index()
            def dense():
                hits = services.retriever.search("guichet", k=5, mode="dense")
                return [(h.chunk.id, round(h.score, 5)) for h in hits]

            before = dense()
            assert all(score > 0 for _, score in before)
            server.stop()
            with pytest.raises(StoreUnavailable, match="injoignable"):
                services.retriever.search("guichet", k=5)
            assert services.retriever.search("guichet", k=5, mode="bm25")  # BM25 needs no server
            server.start()
            assert dense() == before
        finally:
            server.stop()


@pytest.fixture(scope="session")
def use_services(tmp_path_factory, seed):
    root = tmp_path_factory.mktemp("use")
    services = Services(make_settings(root, write_corpus(list(seed.values()), root / "fiches"), embedder="use"))
    services.ensure_index()
    return services


def test_real_default_embedder_finds_paraphrases_and_english(use_services):
    search = use_services.retriever.search
    assert search("how did a prefecture improve its reception with workshops?", k=3, mode="dense")[0].chunk.fiche_id \
        == "innov-accueil-une-demarche-d-amelioration-de-l-accueil-en-prefecture"
    top = [h.chunk.fiche_id for h in search("livre de recettes sur la médiation numérique", k=3)]
    assert "l-accueil-au-sein-de-l-espace-france-services-de-saint-meen-le-grand" in top


def test_dense_hit_missing_from_bm25_table_is_read_from_the_store(tmp_path, seed):
    """After an interrupted indexing the store may hold chunks the BM25 index lacks."""
    settings = make_settings(tmp_path, write_corpus(list(seed.values()), tmp_path / "fiches"))
    services = Services(settings)
    services.ensure_index()
    orphan = Chunk(id="zz::description::0", fiche_id="zz", title="Zeppelin", section="Description",
                   text="Un zeppelin d'accueil.", metadata={"ville": "Brest"})
    services.store.upsert([orphan], services.embedder.embed_documents([orphan.indexed_text]))
    hits = services.retriever.search("Zeppelin Description Un zeppelin d'accueil.", k=3, mode="dense")
    assert hits[0].chunk == orphan


def test_services_build_each_object_once_across_threads(tmp_path, seed):
    services = Services(make_settings(tmp_path, write_corpus(list(seed.values()), tmp_path / "fiches")))
    services.ensure_index()
    with ThreadPoolExecutor(8) as pool:
        retrievers = list(pool.map(lambda _: services.retriever, range(32)))
        backends = list(pool.map(lambda _: services.backend("extractive"), range(32)))
    assert all(r is retrievers[0] for r in retrievers) and all(b is backends[0] for b in backends)
    assert services.backend() is backends[0]  # the settings' default backend is "extractive"
    assert services.backend("extractive", temperature=0.5) is not backends[0]
    assert set(services.fiches) == set(seed)

