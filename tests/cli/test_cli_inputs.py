"""``python -m rag ask`` / ``search`` with inputs a script author gets wrong: a real
subprocess each, one French line on stderr, exit code 2, never « erreur interne »."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.api_server import serve_env


def rag(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=serve_env(data_dir),
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("k", ["0", "-2"])
def test_ask_refuses_a_k_below_one_as_search_does(k, tmp_path):
    for command in ("ask", "search"):
        done = rag(command, "borne d'accueil mobile", "--k", k, data_dir=tmp_path / "data")
        assert done.returncode == 2, (command, done.stdout)
        assert done.stderr.strip() == f"erreur: k doit valoir au moins 1 (reçu : {k})" and done.stdout == ""


def test_a_data_dir_that_is_a_file_is_a_clear_error(tmp_path):
    not_a_dir = tmp_path / "donnees"
    not_a_dir.write_text("pas un dossier", encoding="utf-8")
    done = rag("search", "borne d'accueil mobile", data_dir=not_a_dir)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("erreur: ") and "erreur interne" not in done.stderr
    assert str(not_a_dir) in done.stderr and "RAG_DATA_DIR" in done.stderr and "Traceback" not in done.stderr
