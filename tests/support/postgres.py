"""PostgreSQL for the storage tests: one throw-away cluster per session
(:mod:`tests.servers.postgres`, Debian's binaries) and a fresh empty database per test.

Registered in ``tests/conftest.py`` (``pytest_plugins``); tests ask for the fixtures by
name: ``postgres_url`` (the session cluster's ``test`` database) or
``postgres_database`` (a new database, dropped afterwards).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.servers.postgres import start_postgres


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/test`` of the session's cluster."""
    with start_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


def _admin(url: str) -> psycopg.Connection:
    """An autocommit connection to the cluster's ``postgres`` database."""
    parsed = make_url(url)
    return psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname="postgres",
                           autocommit=True, connect_timeout=10)


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the session cluster (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with _admin(postgres_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        with _admin(postgres_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.OperationalError:
        pass  # the test left the cluster stopped: its data folder goes with the session
