"""``python -m rag import`` as a user runs it: a real subprocess, stdout/stderr checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "corpus" / "raw" / "000_d9e11f9bb21b0018.txt"


def run(*args: str, corpus: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus)}
    env.pop("RAG_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "rag", "import", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_seed_into_default_corpus_dir(tmp_path):
    done = run(str(SEED), corpus=tmp_path / "fiches")
    assert done.returncode == 0 and done.stdout == ""
    assert len(list((tmp_path / "fiches").glob("*.md"))) == 10
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith("10 fiches importées") and "lignes répétées 68" in summary
    assert "lignes de spam 7" in summary and "liens vides 2" in summary


def test_json_stdout_is_pure_json_and_out_option(tmp_path):
    done = run(str(SEED), "--json", "--out", str(tmp_path / "ailleurs"), corpus=tmp_path / "fiches")
    assert done.returncode == 0
    fiches = json.loads(done.stdout)
    assert len(fiches) == 10
    assert set(fiches[0]) == {"id", "title", "commune", "departement", "region", "sections", "metadata"}
    assert fiches[0]["title"] == "Accueil en Mairie de brest"
    assert fiches[0]["metadata"]["Partenaires associés"] == ["Agence DETEA"]
    assert "10 fiches importées" in done.stderr
    assert len(list((tmp_path / "ailleurs").glob("*.md"))) == 10 and not (tmp_path / "fiches").exists()


@pytest.mark.parametrize("content, message", [
    (None, "introuvable"),
    (b"", "est vide"),
    (b"\x00\x01\x02binaire\x00", "n'est pas un fichier texte"),
    ("Rien qui ressemble à une fiche.\n".encode(), "aucune fiche"),
])
def test_bad_input_is_one_stderr_line_nonzero_exit(tmp_path, content, message):
    export = tmp_path / "export.txt"
    if content is not None:
        export.write_bytes(content)
    done = run(str(export), "--json", corpus=tmp_path / "fiches")
    assert done.returncode != 0 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "fiches").exists()
