"""The command line speaks French: ``--help`` of every command and argparse's own errors,
as a user sees them (a real ``python -m rag`` subprocess each), plus the parser class on
the constructs the commands do not use yet (mutually exclusive options)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from rag.cli.parser import FrenchArgumentParser
from tests.conftest import ROOT

ENGLISH_HELP = ("usage:", "show this help", "positional arguments", "optional arguments", "default:")
ENGLISH_WORDS = re.compile(r"\b(the|of|and|with|from|its|this|that|which|exit|default|to|an)\b")
ENGLISH_ERRORS = re.compile(r"\b(error|usage|invalid|required|unrecognized|expected|choose from|not allowed|"
                            r"ignored|ambiguous|could match|maybe you meant)\b", re.IGNORECASE)

COMMANDS = [(), ("import",), ("index",), ("search",), ("eval",), ("ask",), ("serve",), ("mcp",),
            ("conversations",), ("conversations", "list"), ("conversations", "show"),
            ("conversations", "export"), ("feedback",), ("feedback", "list")]

KEY_OPTIONS = {  # (command, option): a French word its description must hold
    ((), "--verbose"): "journaux",
    (("import",), "--out"): "dossier",
    (("index",), "--rebuild"): "reconstruit",
    (("search",), "--k"): "passages",
    (("search",), "--mode"): "hybride",
    (("search",), "--filter"): "commune",
    (("search",), "--json"): "JSON",
    (("eval",), "--details"): "questions",
    (("ask",), "--k"): "passages",
    (("ask",), "--backend"): "extractive",
    (("ask",), "--model"): "modèle",
    (("ask",), "--conversation"): "conversation",
    (("serve",), "--insecure"): "clé",
    (("mcp",), "--http"): "HTTP",
    (("conversations", "export"), "--format"): "Markdown",
    (("feedback", "list"), "--rating"): "avis",
}


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAG_DEBUG"}
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def entries(help_text: str) -> dict[str, str]:
    """Each argument line of a help text (``-k, --k K``, ``question``…) -> its description
    (same line after two spaces, or the indented lines below)."""
    found: dict[str, str] = {}
    current = None
    in_list = False
    for line in help_text.splitlines():
        if line and not line.startswith(" "):
            in_list, current = line.rstrip().endswith(":"), None
            continue
        if not in_list or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= 4:
            name, _, description = line.strip().partition("  ")
            current = name
            found[current] = description.strip()
        elif current:
            found[current] = (found[current] + " " + line.strip()).strip()
    return found


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "rag")
def test_help_is_french_and_describes_every_argument(command: tuple[str, ...]) -> None:
    done = rag(*command, "--help")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    text = done.stdout
    assert text.startswith(f"utilisation : python -m rag{''.join(' ' + c for c in command)}"), text
    for english in ENGLISH_HELP:
        assert english not in text.lower(), (english, text)
    assert "affiche cette aide et quitte" in text
    described = entries(text)
    assert described, text
    for name, description in described.items():
        assert description, f"« {name} » sans description :\n{text}"
        assert not ENGLISH_WORDS.search(description), (name, description)
    for (wanted, option), word in KEY_OPTIONS.items():
        if wanted == command:
            line = next(d for n, d in described.items() if option in re.findall(r"--?[\w-]+", n))
            assert word.lower() in line.lower(), (option, line)


ERRORS = {  # argv -> what the French line must say
    "type": (("ask", "borne", "--k", "x"), ["--k", "« x »", "nombre entier"]),
    "required positional": (("ask",), ["obligatoire", "question"]),
    "required command": ((), ["obligatoire", "COMMANDE"]),
    "required action": (("conversations",), ["obligatoire", "ACTION"]),
    "unrecognized": (("search", "borne", "--bogus", "7"), ["non reconnu", "--bogus 7"]),
    "invalid choice": (("search", "borne", "--mode", "fuzzy"), ["--mode", "« fuzzy »", "hybrid, dense, bm25"]),
    "invalid command": (("cherche", "borne"), ["« cherche »", "search"]),
    "missing value": (("ask", "borne", "--k"), ["--k", "valeur"]),
    "explicit value": (("search", "borne", "--json=1"), ["--json", "« 1 »"]),
    "ambiguous": (("ask", "borne", "--ba", "x"), ["ambiguë", "--backend", "--base-url"]),
}


@pytest.mark.parametrize("kind", ERRORS)
def test_argparse_errors_are_french_with_usage_and_a_hint(kind: str) -> None:
    argv, expected = ERRORS[kind]
    done = rag(*argv)
    assert done.returncode == 2 and done.stdout == "", done.stderr
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("erreur")]
    assert len(errors) == 1 and errors[0].startswith("erreur: "), done.stderr
    for part in expected:
        assert part in errors[0], (part, errors[0])
    assert lines[0].startswith("utilisation : python -m rag"), done.stderr
    assert lines[-1].startswith("aide : python -m rag") and lines[-1].endswith("--help"), done.stderr
    assert not ENGLISH_ERRORS.search(done.stderr), done.stderr


def test_an_unrecognized_argument_points_to_the_help_of_its_command() -> None:
    done = rag("conversations", "list", "--bogus")
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("utilisation : python -m rag conversations list "), done.stderr
    assert lines[-1] == "aide : python -m rag conversations list --help", done.stderr


def test_top_level_hint_names_the_command_help() -> None:
    done = rag()
    assert "python -m rag <commande> --help" in done.stderr.strip().splitlines()[-1], done.stderr


def _parser() -> FrenchArgumentParser:
    parser = FrenchArgumentParser(prog="outil")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--texte", action="store_true", help="sortie texte")
    group.add_argument("--json", action="store_true", help="sortie JSON")
    return parser


def test_mutually_exclusive_options_are_refused_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _parser().parse(["--texte", "--json"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "erreur: argument --json : incompatible avec l'argument --texte" in err, err
    with pytest.raises(SystemExit):
        _parser().parse([])
    err = capsys.readouterr().err
    assert "erreur: l'un des arguments --texte --json est obligatoire" in err, err
    assert not ENGLISH_ERRORS.search(err), err


def test_an_unknown_message_is_kept_as_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _parser().error("quelque chose d'inattendu: 42")
    assert stop.value.code == 2
    assert "erreur: quelque chose d'inattendu: 42\n" in capsys.readouterr().err
