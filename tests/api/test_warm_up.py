"""Start-up loads what the first question would otherwise wait for, the catalogue's
abstention profile included: after the API's start-up (a real uvicorn server) and after
the MCP server's :meth:`Services.preload`, the catalogue's derived cache holds it
(seen through ``Catalogue.has_derived``)."""

from __future__ import annotations

import pytest

from rag.answer.abstention import profile_key
from rag.api.app import create_app
from rag.config import Settings, load_settings
from rag.services import Services
from tests.conftest import BUNDLED_FICHES
from tests.support.api_server import ThreadedApi


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(corpus_dir=BUNDLED_FICHES, data_dir=tmp_path_factory.mktemp("warm") / "data",
                         embedder="hashing")


def profile_cached(services: Services) -> bool:
    """Is the abstention profile of the services' embedder already in the catalogue?"""
    return services.fiches.has_derived(profile_key(services.retriever.embedder.name))


def test_the_api_start_up_builds_the_abstention_profile(settings: Settings) -> None:
    with ThreadedApi(create_app(settings)) as api:
        services = api.server.config.app.state.services
        assert api.server.config.app.state.startup_error is None
        assert profile_cached(services)


def test_the_mcp_preload_builds_it_and_a_fresh_catalogue_has_none(settings: Settings) -> None:
    fresh = Services(settings)
    fresh.ensure_index()
    assert not profile_cached(fresh)  # the check can fail: nothing builds it before a question
    warmed = Services(settings)
    warmed.ensure_index()
    warmed.preload()
    assert profile_cached(warmed)
