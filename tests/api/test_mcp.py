"""``python -m rag mcp`` over stdio, driven by the official ``mcp`` SDK client: the tools
are listed with French and English descriptions, search finds Saint-Méen for « borne
d'accueil mobile », ``ask`` cites, fiches are resources, bad input is a tool error."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.conftest import ROOT
from tests.support.api_server import serve_env

SAINT_MEEN = "l-accueil-au-sein-de-l-espace-france-services-de-saint-meen-le-grand"


@pytest.fixture(scope="module")
def mcp_params(tmp_path_factory) -> StdioServerParameters:
    env = serve_env(tmp_path_factory.mktemp("mcp") / "data")
    return StdioServerParameters(command=sys.executable, args=["-m", "rag", "mcp"], cwd=ROOT, env=env)


def with_client(params: StdioServerParameters, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Client(params, read_timeout_seconds=120) as client:
            await body(client)

    anyio.run(main)


def payload(result) -> dict:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def test_stdio_tools_search_ask_resources(mcp_params):
    async def body(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"search_fiches", "get_fiche", "list_fiches", "ask"}
        for tool in tools.values():
            assert " / " in tool.description  # French / English
        assert set(tools["search_fiches"].input_schema["properties"]) == {"query", "k", "filters"}

        found = payload(await client.call_tool("search_fiches", {"query": "borne d'accueil mobile", "k": 3}))
        assert found["hits"][0]["fiche_id"] == SAINT_MEEN

        answer = payload(await client.call_tool("ask", {"question": "Quelles initiatives ont testé une borne "
                                                                    "d'accueil mobile ?"}))
        cited = [s for s in answer["sources"] if s["cited"]]
        assert "[1]" in answer["answer"] and cited[0]["fiche_id"] == SAINT_MEEN and not answer["abstained"]
        assert answer["notices"] == []
        long = payload(await client.call_tool("ask", {"question": "borne d'accueil mobile ? " + "x" * 3000}))
        assert any("Question trop longue" in notice for notice in long["notices"])  # said, not silently cut

        fiche = payload(await client.call_tool("get_fiche", {"id": SAINT_MEEN}))
        assert fiche["title"].startswith("L'accueil au sein de l'Espace France Services")
        listed = payload(await client.call_tool("list_fiches", {"filters": {"ville": "Nantes"}}))
        assert len(listed["data"]) == 2 and all("nantes" in f["id"] for f in listed["data"])

        resources = (await client.list_resources()).resources
        assert len(resources) == 10 and f"fiche://{SAINT_MEEN}" in {str(r.uri) for r in resources}
        read = await client.read_resource(f"fiche://{SAINT_MEEN}")
        assert read.contents[0].text.startswith("# L'accueil au sein de l'Espace France Services")

        for name, arguments in (("search_fiches", {"query": "borne", "filters": {"pays": "France"}}),
                                ("search_fiches", {"query": "   "}),
                                ("search_fiches", {"query": "borne", "k": 0}),
                                ("get_fiche", {"id": "nulle-part"}),
                                ("ask", {"question": ""})):
            failed = await client.call_tool(name, arguments)
            assert failed.is_error, (name, arguments)
            assert "Traceback" not in failed.content[0].text
        # the server survived the bad calls
        assert payload(await client.call_tool("list_fiches", {}))["data"]

    with_client(mcp_params, body)


def test_arguments_of_the_wrong_shape_are_refused_in_french(mcp_params):
    async def body(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert tools["ask"].input_schema["required"] == ["question"]  # the schemas say what is expected
        assert tools["search_fiches"].input_schema["properties"]["k"]["type"] == "integer"
        for name, arguments, expected in (
                ("ask", {}, "« question » est obligatoire"),
                ("ask", {"question": 42}, "« question » doit être un texte (reçu : 42)"),
                ("search_fiches", {"query": "borne", "k": "beaucoup"}, "« k » doit être un nombre entier"),
                ("list_fiches", {"filters": ["Nantes"]}, "« filters » doit être un objet"),
                ("get_fiche", {"identifiant": SAINT_MEEN}, "« id » est obligatoire")):
            failed = await client.call_tool(name, arguments)
            text = failed.content[0].text
            assert failed.is_error and f"Arguments invalides pour l'outil {name}" in text, (name, text)
            assert expected in text and "validation error" not in text and "Field required" not in text, text
        # what the SDK accepts still goes through: a number as text, filters as a JSON string
        found = payload(await client.call_tool("search_fiches", {"query": "accueil", "k": "2",
                                                                 "filters": '{"ville": "Nantes"}'}))
        assert 1 <= len(found["hits"]) <= 2 and all("nantes" in hit["fiche_id"] for hit in found["hits"])

    with_client(mcp_params, body)
