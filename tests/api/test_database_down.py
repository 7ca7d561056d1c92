"""PostgreSQL stopped under ``python -m rag serve`` (found following docs/deploy.md): a
client that named its conversation (``X-Conversation-Id``) still gets its answer and its
sources, and is told in ``notices`` that the history could not be read and the exchange
will not be saved (it was only logged on the server). A real PostgreSQL cluster, stopped
and started again; the app on a real uvicorn server; the official ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI

from rag.api.app import create_app
from rag.config import load_settings
from tests.conftest import BUNDLED_FICHES
from tests.servers.postgres import PostgresServer, postgres_server
from tests.support.api_server import ThreadedApi

pytestmark = pytest.mark.server

FIRST = "Comment est organisé l'accueil en mairie à Brest ?"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[PostgresServer, ThreadedApi]]:
    root = tmp_path_factory.mktemp("db-down")
    with postgres_server(root) as postgres:
        settings = load_settings(corpus_dir=BUNDLED_FICHES, data_dir=root / "data", embedder="hashing",
                                 database_url=postgres.url)
        with ThreadedApi(create_app(settings)) as api:
            yield postgres, api


def _ask(api: ThreadedApi, question: str, conversation: str, stream: bool = False) -> tuple[str | None, dict]:
    """(the X-Conversation-Id sent back, the fields of the answer beyond OpenAI's)."""
    client = OpenAI(base_url=f"{api.url}/v1", api_key="none", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="fiches-extractive", messages=[{"role": "user", "content": question}], stream=stream,
        extra_headers={"X-Conversation-Id": conversation})
    if not stream:
        return raw.headers.get("X-Conversation-Id"), raw.parse().model_extra
    last = [chunk for chunk in raw.parse()][-1]
    return raw.headers.get("X-Conversation-Id"), last.model_extra


def test_follow_up_while_postgres_is_stopped_says_so_then_resumes(cluster):
    postgres, api = cluster
    conversation, _ = _ask(api, FIRST, "new")
    assert conversation
    postgres.stop()
    try:
        for stream in (False, True):
            header, extra = _ask(api, "et à Nantes ?", conversation, stream=stream)
            assert header is None and extra["sources"]  # answered, with its sources
            assert any("historique indisponible" in n and "ne sera pas enregistré" in n for n in extra["notices"])
    finally:
        postgres.start()
    header, extra = _ask(api, "et à Nantes ?", conversation)
    assert header == conversation and not any("historique" in n for n in extra["notices"])
    assert {s["ville"] for s in extra["sources"]} == {"Nantes"}  # resolved from the stored Brest turn
