"""Bad input everywhere, through the real entry points: ``python -m rag`` in a subprocess
(tmp data dir, "hashing" embedder), ``rag.answer.pipeline.ask`` in-process and the Streamlit app
(AppTest). Every refusal is one readable line naming what is valid, never a traceback;
every tolerated input (control characters, an over-long question, a latin-1 export, a
broken fiche among good ones) still gives a result.

Each case is one test id; ``tests/FAULTS.md`` lists them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.answer.pipeline import ask
from rag.config import ROOT, load_settings
from rag.errors import ConfigError, InputError
from rag.services import Services

BREST = "accueil-en-mairie-de-brest"
BREST_QUESTION = "Comment la mairie de Brest a-t-elle réaménagé le hall d'accueil ?"
SPAM_QUESTION = "Comment fonctionne le kiosque d'accueil de Vierzon ?"
BROKEN = "---\nid: x\ntitle: [non fermé\nmetadata: {}\n---\n"  # YAML error on line 4
SPAM_FICHE = """---
id: kiosque-de-vierzon
title: Kiosque d'accueil de Vierzon
metadata:
  Ville: Vierzon
  Lien Web si existant: https://floodcrm.email/kiosque
---

## Description

Le kiosque d'accueil de Vierzon oriente les usagers vers les guichets ; réservez sur https://floodcrm.email/promo ou www.floodcrm.email dès maintenant.
"""  # noqa: E501 - a fiche line as users write it
VALID_FILTERS = "commune, departement, region, echelle, type_acteur, partenaire"
SCRUBBED = ("RAG_DEBUG", "RAG_BACKEND", "RAG_CHROMA_URL", "RAG_LLM_API_KEY", "RAG_CONFIG_FILE", "RAG_PROMPTS_DIR")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled fiches, plus one with broken front matter and one carrying spam URLs."""
    folder = tmp_path_factory.mktemp("bad-corpus")
    for path in (ROOT / "corpus" / "fiches").glob("*.md"):
        shutil.copy(path, folder)
    (folder / "cassee.md").write_text(BROKEN, encoding="utf-8")
    (folder / "kiosque-de-vierzon.md").write_text(SPAM_FICHE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def services(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Services:
    """That corpus indexed once (hashing embedder); the CLI cases reuse its data dir."""
    built = Services(load_settings(data_dir=tmp_path_factory.mktemp("bad-data"), corpus_dir=corpus,
                                   embedder="hashing", backend="extractive"))
    built.ensure_index()
    return built


def cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m rag ARGS`` as a user runs it (hashing embedder, no stray RAG_* setting)."""
    full = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    full.update({"RAG_EMBEDDER": "hashing", **env})
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=full, input=stdin,
                          capture_output=True, text=True, timeout=120)


def shared(services: Services, **extra: str) -> dict[str, str]:
    """Env pointing the CLI at the module's corpus and (already built) index."""
    settings = services.settings
    return {"RAG_DATA_DIR": str(settings.data_dir), "RAG_CORPUS_DIR": str(settings.corpus_dir), **extra}


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout


# ------------------------------------------------------------------ CLI: refused at once

REFUSED = [
    pytest.param(["search", "accueil"], {"RAG_EMBEDDER": "nope"},
                 ["embedder inconnu « nope »", "hashing, minilm", "use", "RAG_EMBEDDER"], id="env-embedder-nope"),
    pytest.param(["ask", BREST_QUESTION], {"RAG_BACKEND": "nope"},
                 ["moteur inconnu « nope »", "extractive, ollama, openai", "RAG_BACKEND"], id="env-backend-nope"),
    pytest.param(["ask", BREST_QUESTION, "--backend", "nope"], {},
                 ["moteur inconnu « nope »", "extractive, ollama, openai", "--backend"], id="flag-backend-nope"),
    pytest.param(["search", "accueil"], {"RAG_SEARCH_MODE": "nope"},
                 ["RAG_SEARCH_MODE='nope'", "'hybrid', 'dense' ou 'bm25'"], id="env-search-mode-nope"),
    pytest.param(["ask", BREST_QUESTION], {"RAG_TOP_K": "-3"},
                 ["RAG_TOP_K='-3'", "supérieur ou égal à 1", "acceptées : >= 1, <= 50"], id="env-top-k-negative"),
    pytest.param(["ask", BREST_QUESTION, "--filter", "pays=France"], {},
                 ["filtre inconnu « pays »", VALID_FILTERS], id="filter-unknown-field"),
    pytest.param(["search", "accueil", "--filter", "ville"], {},
                 ["filtre mal formé « ville »", "CHAMP=VALEUR"], id="filter-without-value"),
    pytest.param(["ask", BREST_QUESTION], {"RAG_PROMPTS_DIR": "{tmp}/absent"},
                 ["modèle de prompt manquant", "{tmp}/absent/system.md", "RAG_PROMPTS_DIR"], id="prompts-missing"),
    pytest.param(["ask", ""], {}, ["question vide"], id="question-empty"),
    pytest.param(["search", " \t\n  "], {}, ["question vide"], id="question-whitespace"),
    pytest.param(["ask", "\x01\x1b\x7f\u2028"], {}, ["question vide"], id="question-control-only"),
]


@pytest.mark.parametrize(("args", "env", "words"), REFUSED)
def test_cli_refuses_at_once_with_one_line(tmp_path: Path, services: Services, args: list[str],
                                           env: dict[str, str], words: list[str]) -> None:
    """Exit 2, one ``erreur:`` line naming what is valid, nothing indexed first (a fresh
    data dir: indexing would print more lines), nothing on stdout."""
    env = {k: v.format(tmp=tmp_path) for k, v in env.items()}
    done = cli(*args, env={"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_CORPUS_DIR": str(services.settings.corpus_dir),
                           **env})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("erreur: "), done.stderr
    for word in words:
        assert word.format(tmp=tmp_path) in lines[0]
    assert done.stdout == ""
    no_traceback(done)


# ------------------------------------------------------------------ CLI: tolerated input

def test_cli_question_of_20000_chars_is_truncated_with_a_notice(services: Services) -> None:
    question = (BREST_QUESTION + " ") * 400
    assert len(question) > 20_000
    done = cli("ask", question[:20_000], "--json", env=shared(services))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert len(payload["question"]) <= services.settings.max_question_chars
    assert payload["question"].startswith(BREST_QUESTION) and payload["citations"][0]["fiche_id"] == BREST
    assert "note : Question trop longue" in done.stderr and "2000 premiers caractères" in done.stderr
    no_traceback(done)


def test_cli_control_characters_are_dropped(services: Services) -> None:
    done = cli("ask", "Mairie de Brest\x01 : hall\x1b[31m d'accueil\x7f réaménagé\u2028 ?", env=shared(services))
    assert done.returncode == 0, done.stderr
    assert "Accueil en Mairie de brest" in done.stdout and "[1]" in done.stdout
    assert "\x1b" not in done.stdout and "\x01" not in done.stdout
    no_traceback(done)


def test_cli_nul_characters_on_stdin(services: Services) -> None:
    """NUL cannot be in argv: ``search -`` reads it from stdin; a NUL-only line is one
    JSON error line, the batch goes on."""
    done = cli("search", "-", "--k", "1", env=shared(services), stdin="mairie\x00 de Brest\n\x00\x00\naccueil Brest\n")
    assert done.returncode == 0, done.stderr
    first, nul_only, last = (json.loads(line) for line in done.stdout.splitlines())
    assert first["hits"][0]["fiche_id"] == BREST and last["hits"][0]["fiche_id"] == BREST
    assert nul_only["hits"] == [] and "question vide" in nul_only["error"]
    no_traceback(done)


def test_cli_broken_front_matter_is_reported_others_indexed_and_found(services: Services, corpus: Path) -> None:
    done = cli("index", env=shared(services))
    assert done.returncode == 0, done.stderr
    assert f"{corpus / 'cassee.md'}:4: en-tête YAML invalide" in done.stderr
    assert "ajoutés : 0" in done.stdout and "supprimés : 0" in done.stdout
    assert set(services.fiches) == {p.stem for p in corpus.glob("*.md")} - {"cassee"}
    found = cli("search", "Accueil en Mairie de brest", "--json", "--k", "1", env=shared(services))
    assert json.loads(found.stdout)["hits"][0]["fiche_id"] == BREST
    no_traceback(done)
    no_traceback(found)


def test_cli_missing_corpus_dir(tmp_path: Path) -> None:
    done = cli("index", env={"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_CORPUS_DIR": str(tmp_path / "absent")})
    assert done.returncode == 2
    assert "dossier du corpus introuvable" in done.stderr and "python -m rag import" in done.stderr
    no_traceback(done)


def test_cli_spam_urls_masked_in_the_answer(services: Services) -> None:
    done = cli("ask", SPAM_QUESTION, env=shared(services))
    assert done.returncode == 0, done.stderr
    assert "Kiosque d'accueil de Vierzon" in done.stdout and "[lien retiré]" in done.stdout
    assert "floodcrm" not in done.stdout.casefold()
    no_traceback(done)


# ------------------------------------------------------------------ CLI: exports

def test_cli_latin1_export_is_imported_then_found(tmp_path: Path) -> None:
    title = "Kiosque d'été à Néris"
    export = tmp_path / "export.txt"
    export.write_bytes("\n".join([title, title, "Réalisations", "Un kiosque où l'on reçoit les usagers."])
                       .encode("latin-1"))
    env = {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_CORPUS_DIR": str(tmp_path / "fiches")}
    done = cli("import", str(export), env=env)
    assert done.returncode == 0, done.stderr
    assert "fichier non UTF-8, lu en cp1252" in done.stderr and "1 fiches importées" in done.stderr
    found = cli("search", "kiosque d'été Néris", "--json", "--k", "1", env=env)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["title"] == title
    no_traceback(done)
    no_traceback(found)


@pytest.mark.parametrize(("content", "words"), [
    pytest.param(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)), ["n'est pas un fichier texte"],
                 id="export-binary"),
    pytest.param(b"Bonjour,\nceci n'est pas un export.\n", ["aucune fiche"], id="export-zero-fiches"),
    pytest.param(None, ["est un dossier", "fichier d'export"], id="export-is-a-directory"),
])
def test_cli_bad_export(tmp_path: Path, content: bytes | None, words: list[str]) -> None:
    export = tmp_path / "export.txt"
    export.mkdir() if content is None else export.write_bytes(content)
    done = cli("import", str(export), env={"RAG_CORPUS_DIR": str(tmp_path / "fiches")})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("erreur: ")
    assert all(word in lines[0] for word in words), lines
    assert not (tmp_path / "fiches").exists()
    no_traceback(done)


# ------------------------------------------------------------------ pipeline, in-process

PIPELINE_REFUSED = [
    pytest.param("", {}, InputError, ["question vide"], id="ask-empty"),
    pytest.param("  \t\n \u3000 ", {}, InputError, ["question vide"], id="ask-whitespace"),
    pytest.param("\x00\x00\x00", {}, InputError, ["question vide"], id="ask-nul-only"),
    pytest.param("\x01\x1b\x7f\u2028\u2029", {}, InputError, ["question vide"], id="ask-control-only"),
    pytest.param(None, {}, InputError, ["doit être du texte"], id="ask-not-text"),
    pytest.param(BREST_QUESTION, {"filters": {"pays": "France"}}, InputError,
                 ["filtre inconnu « pays »", VALID_FILTERS], id="ask-filter-unknown-field"),
    pytest.param(BREST_QUESTION, {"filters": {"ville": "\x00 "}}, InputError, ["« ville » n'a pas de valeur"],
                 id="ask-filter-blank-value"),
    pytest.param(BREST_QUESTION, {"history": [("une seule valeur",)]}, InputError, ["historique invalide"],
                 id="ask-history-malformed"),
    pytest.param(BREST_QUESTION, {"k": -3}, InputError, ["k doit valoir au moins 1", "-3"], id="ask-k-negative"),
    pytest.param(BREST_QUESTION, {"k": 0}, InputError, ["k doit valoir au moins 1", "(reçu : 0)"], id="ask-k-zero"),
    pytest.param(BREST_QUESTION, {"backend": "nope"}, ConfigError,
                 ["moteur inconnu « nope »", "valides : extractive, ", "ollama, openai"], id="ask-backend-nope"),
    pytest.param(BREST_QUESTION, {"backend": "openai", "temperature": "brûlant"}, ConfigError,
                 ["options invalides pour le moteur « openai »", "temperature"], id="ask-backend-option-invalid"),
]


@pytest.mark.parametrize(("question", "kwargs", "error", "words"), PIPELINE_REFUSED)
def test_pipeline_refuses_with_one_line(services: Services, question: object, kwargs: dict,
                                        error: type[Exception], words: list[str]) -> None:
    with pytest.raises(error) as info:
        ask(question, services, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and all(word in message for word in words), message


@pytest.mark.parametrize("question", [
    pytest.param(BREST_QUESTION.replace("Brest", "Brest\x00") + "\x00", id="ask-nul-inside"),
    pytest.param(BREST_QUESTION.replace(" ", "\x0b\x1b[0m ", 3) + "\u2028", id="ask-control-inside"),
])
def test_pipeline_cleans_control_characters(services: Services, question: str) -> None:
    result = ask(question, services).result
    assert all(ord(c) >= 32 for c in result.question) and "Brest" in result.question
    assert result.error is None and result.citations[0].fiche_id == BREST


def test_pipeline_question_of_20000_chars(services: Services) -> None:
    question = ((BREST_QUESTION + " ") * 400)[:20_000]
    result = ask(question, services).result
    limit = services.settings.max_question_chars
    assert limit - 100 < len(result.question) <= limit and result.question.startswith(BREST_QUESTION)
    assert result.notices == [f"Question trop longue : seuls ses {limit} premiers caractères ont été pris en compte."]
    assert result.error is None and result.citations[0].fiche_id == BREST


def test_pipeline_masks_spam_urls_in_answer_and_sources(services: Services) -> None:
    """A hand-edited fiche carrying deny-listed URLs: the extractive answer quotes the
    sentence with the URLs masked, in the stream, the answer, the source texts and links."""
    run = ask(SPAM_QUESTION, services)
    shown = "".join(run.stream())
    result = run.result
    assert result.citations[0].fiche_id == "kiosque-de-vierzon"
    assert "réservez sur [lien retiré] ou [lien retiré] dès maintenant" in result.answer
    dumped = json.dumps([shown, result.model_dump()], ensure_ascii=False).casefold()
    assert "floodcrm" not in dumped
    assert all(s.url == "" for s in result.sources if s.fiche_id == "kiosque-de-vierzon")


def test_missing_prompt_file_is_a_config_error_naming_it(services: Services, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    (prompts / "user.md").unlink()
    broken = Services(services.settings.model_copy(update={"prompts_dir": prompts}))
    with pytest.raises(ConfigError) as info:
        ask(BREST_QUESTION, broken)
    assert str(prompts / "user.md") in str(info.value) and "RAG_PROMPTS_DIR" in str(info.value)


@pytest.mark.parametrize(("values", "words"), [
    pytest.param({"search_mode": "nope"}, ["RAG_SEARCH_MODE='nope'", "'hybrid', 'dense' ou 'bm25'"],
                 id="settings-search-mode-nope"),
    pytest.param({"top_k": -3, "chunk_tokens": 5}, ["RAG_TOP_K='-3'", ">= 1, <= 50", "RAG_CHUNK_TOKENS='5'",
                                                    ">= 32, <= 4000"], id="settings-two-bad-values"),
    pytest.param({"temperature": "chaud"}, ["RAG_TEMPERATURE='chaud'", "nombre attendu", ">= 0.0, <= 2.0"],
                 id="settings-temperature-not-a-number"),
])
def test_load_settings_lists_valid_values(values: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**values)
    message = str(info.value)
    assert message.startswith("réglages invalides : ") and "\n" not in message
    assert all(word in message for word in words), message


# ------------------------------------------------------------------ the app

@pytest.mark.parametrize(("env", "words"), [
    pytest.param({"RAG_SEARCH_MODE": "nope"}, ["RAG_SEARCH_MODE='nope'", "'hybrid', 'dense' ou 'bm25'"],
                 id="app-env-search-mode-nope"),
    pytest.param({"RAG_TOP_K": "-3"}, ["RAG_TOP_K='-3'", ">= 1, <= 50"], id="app-env-top-k-negative"),
    pytest.param({"RAG_EMBEDDER": "nope"}, ["embedder inconnu « nope »", "hashing"], id="app-env-embedder-nope"),
])
def test_app_shows_bad_settings_as_one_error(services: Services, monkeypatch: pytest.MonkeyPatch,
                                             env: dict[str, str], words: list[str]) -> None:
    for key in SCRUBBED:
        monkeypatch.delenv(key, raising=False)
    for key, value in {**shared(services, RAG_EMBEDDER="hashing"), **env}.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and all(word in errors[0].replace("\\", "") for word in words), errors


def test_app_unknown_backend_is_flagged_and_falls_back(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidebar lets the user pick the engine: a typo in RAG_BACKEND is shown with the
    valid names, and the extractive engine answers meanwhile."""
    for key in SCRUBBED:
        monkeypatch.delenv(key, raising=False)
    for key, value in shared(services, RAG_EMBEDDER="hashing", RAG_BACKEND="nope").items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    warnings = [w.value.replace("\\", "") for w in at.sidebar.warning]
    assert len(warnings) == 1 and "RAG_BACKEND : « nope »" in warnings[0]
    assert "valides : extractive, " in warnings[0] and "ollama, openai" in warnings[0]  # tests may add "fake"
    at.chat_input[0].set_value(BREST_QUESTION).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    turn = at.session_state["chat"].turns[-1]
    assert turn.answer.backend == "extractive" and turn.answer.sources[0].fiche_id == BREST
