"""``python -m rag serve`` / ``mcp`` from the command line: the loopback rule, and an API
process that never imports Streamlit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tests.support.api_server import serve_env


@pytest.mark.parametrize("args", [["serve", "--host", "0.0.0.0"], ["serve", "--host", "192.0.2.10"],
                                  ["mcp", "--http", "--host", "0.0.0.0"]])
def test_open_server_beyond_loopback_is_refused(args, tmp_path):
    done = subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=serve_env(tmp_path / "data"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("erreur: refus d'écouter sur") and "--insecure" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreadable_keys_file_is_a_clear_error(tmp_path):
    env = serve_env(tmp_path / "data", RAG_API_KEYS_FILE=str(tmp_path / "absent.txt"))
    done = subprocess.run([sys.executable, "-m", "rag", "serve"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "RAG_API_KEYS_FILE illisible" in done.stderr and "absent.txt" in done.stderr


SERVE_AND_REPORT = textwrap.dedent("""
    import sys, threading, time
    import httpx, uvicorn
    from rag.api.app import create_app
    from rag.config import load_settings

    port = int(sys.argv[1])
    server = uvicorn.Server(uvicorn.Config(create_app(load_settings()), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60, json={
        "messages": [{"role": "user", "content": "borne d'accueil mobile"}], "stream": True})
    assert reply.status_code == 200 and "[DONE]" in reply.text, reply.text
    loaded = sorted(m for m in sys.modules if m == "streamlit" or m.startswith(("streamlit.", "rag.ui")))
    print("LOADED:", loaded)
    server.should_exit = True
""")


def test_the_api_serves_without_importing_streamlit(tmp_path):
    from tests.support.net import free_port

    done = subprocess.run([sys.executable, "-c", SERVE_AND_REPORT, str(free_port())], cwd=ROOT,
                          env=serve_env(tmp_path / "data"), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LOADED: []" in done.stdout


@pytest.mark.parametrize("command", [["serve"], ["mcp", "--http"]])
def test_a_busy_port_is_a_french_error_before_any_indexing(command, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "rag", *command, "--port", str(port)], cwd=ROOT,
                              env=serve_env(tmp_path / "data"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"erreur: le port {port} est déjà utilisé sur 127.0.0.1" in done.stderr and "--port" in done.stderr
    assert "Errno" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # refused before building the index


@pytest.mark.parametrize("args,expected", [
    (["--port", "99999"], "port invalide : 99999 (entre 1 et 65535)"),
    (["--host", "nulle-part.invalid", "--insecure"], "adresse d'écoute inconnue « nulle-part.invalid »"),
    (["--host", "192.0.2.10", "--insecure"], "l'adresse 192.0.2.10 n'appartient pas à cette machine"),
])
def test_a_bad_listening_address_is_a_french_error(args, expected, tmp_path):
    done = subprocess.run([sys.executable, "-m", "rag", "serve", *args], cwd=ROOT, env=serve_env(tmp_path / "data"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"erreur: {expected}") and "Errno" not in done.stderr


def test_a_failed_start_up_ends_with_a_french_line(tmp_path):
    not_a_dir = tmp_path / "donnees"
    not_a_dir.write_text("pas un dossier", encoding="utf-8")
    from tests.support.net import free_port

    done = subprocess.run([sys.executable, "-m", "rag", "serve", "--port", str(free_port())], cwd=ROOT,
                          env=serve_env(not_a_dir), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("erreur: le serveur n'a pas démarré")
