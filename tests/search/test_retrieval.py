"""Hybrid retrieval contract (embedded client and a real `chroma run` server): filters,
diversification, fusion, bad input, concurrency; plus the server stopped mid-session,
filter inference / facets, and one check with the real default embedder ("use")."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag.catalogue.catalogue import Catalogue
from rag.errors import InputError, StoreUnavailable
from rag.index.indexing import index_corpus
from rag.search.filters import FILTER_FIELDS, facet_values, infer_filters, value_matches
from rag.search.fusion import DEPTH, SHIFT, dense_share, fuse, normalise
from rag.search.retrieval import Retriever
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


def _chunk(i: str, fiche_id: str) -> Chunk:
    return Chunk(id=i, fiche_id=fiche_id, title="t", section="s", text=i)


def test_fusion_lets_a_decisive_lead_outweigh_a_marginal_one():
    """Dense puts a barely ahead of b; BM25 puts b far ahead of everyone. Rank fusion
    would tie them; score fusion must prefer b, and a chunk only one list has is kept."""
    a, b, c, d, e = (_chunk(i, i) for i in "abcde")
    dense = [(a, 0.50), (b, 0.49), (c, 0.48), (d, 0.47)]
    lexical = [(b, 9.0), (a, 1.0), (c, 0.9), (d, 0.8), (e, 0.7)]
    fused = fuse([dense, lexical], [0.5, 0.5])
    assert [x.id for x, _ in fused][:2] == ["b", "a"]
    assert {x.id for x, _ in fused} == set("abcde")
    assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)


def test_fusion_weights_select_one_list():
    a, b, c = (_chunk(i, i) for i in "abc")
    dense, lexical = [(c, 0.9), (b, 0.5), (a, 0.1)], [(a, 5.0), (b, 1.0)]
    assert [x.id for x, _ in fuse([dense, lexical], [1.0, 0.0])] == ["c", "b", "a"]
    assert [x.id for x, _ in fuse([dense, lexical], [0.0, 1.0])][:2] == ["a", "b"]
    with pytest.raises(ValueError):
        fuse([dense, lexical], [1.0])


def test_normalise_is_bounded_spread_aware_and_depth_limited():
    assert normalise([]) == [] and normalise([3.0]) == [1.0] and normalise([2.0, 2.0]) == [1.0, 1.0]
    flat, peaked = normalise([0.51, 0.50, 0.49, 0.48]), normalise([10.0, 0.50, 0.49, 0.48])
    assert all(0.0 <= v <= 1.0 for v in flat + peaked)
    assert peaked[0] - peaked[1] > flat[0] - flat[1]  # an outlier keeps its lead
    head = [float(i) for i in range(DEPTH, 0, -1)]
    assert normalise(head + [0.5, 0.2])[:DEPTH] == normalise(head)  # the tail sets nothing


def test_infer_filters_and_facets(seed):
    assert infer_filters("Quelles initiatives à Nantes ?", seed) == {"commune": "Nantes"}
    assert infer_filters("des projets en bretagne", seed) == {"region": "Bretagne"}
    assert infer_filters("initiatives in Lyon?", seed) == {"commune": "Lyon"}
    assert infer_filters("Accueil à Saint-Méen-le-Grand", seed) == {"commune": "Saint-Méen-le-Grand"}
    assert infer_filters("initiatives dans le 29", seed) == {"departement": "Finistère (29)"}
    assert infer_filters("comparer à Nantes et à Brest", seed) == {"commune": "Nantes | Brest"}
    assert infer_filters("à Nantes, en Bretagne", seed) == {}  # two places no fiche is in at once
    assert infer_filters("la Nantaise du quartier", seed) == {}
    facets = facet_values(seed)
    assert set(facets) == set(FILTER_FIELDS)
    assert "Brest" in facets["commune"] and "Agence DETEA" in facets["partenaire"]
    assert facets["region"] == ["Auvergne-Rhône-Alpes", "Bretagne", "Île-de-France", "Occitanie", "Pays de la Loire"]
    assert facets["commune"] == sorted(facets["commune"], key=lambda v: v.casefold())


def test_value_matching_is_accent_case_and_word_aware():
    assert value_matches("vendee", "vendée") and value_matches("DETEA", "Agence Grrr | Agence DETEA")
    assert value_matches("lyon", "106 rue Pierre Corneille, Lyon")
    assert not value_matches("Nant", "Nantes") and not value_matches("Grrr", "Agence DETEA")


class RetrievalContract:
    """Subclasses provide ``settings`` (class-scoped)."""

    @pytest.fixture(scope="class")
    def services(self, settings):
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
    def settings(self, tmp_path_factory, corpus_dir):
        return make_settings(tmp_path_factory.mktemp("embedded"), corpus_dir)


@pytest.mark.server
class TestServerRetrieval(RetrievalContract):
    @pytest.fixture(scope="class")
    def settings(self, tmp_path_factory, corpus_dir, chroma_server):
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


def test_dense_weight_grows_when_bm25_top_is_flat_and_shrinks_when_decisive():
    flat = [5.0, 4.9, 4.8, 4.8, 4.7, 4.6, 4.5]
    decisive = [30.0, 2.0, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2]
    assert 0.5 < dense_share(0.5, flat) <= 0.5 + SHIFT[1]
    assert 0.5 + SHIFT[0] <= dense_share(0.5, decisive) < 0.5
    assert dense_share(0.0, flat) == 0.0 and dense_share(1.0, decisive) == 1.0  # one list asked: kept
    assert dense_share(0.5, [3.0, 1.0]) == 0.5 and dense_share(0.5, []) == 0.5  # too few BM25 scores
    assert 0.0 <= dense_share(0.95, flat) <= 1.0
