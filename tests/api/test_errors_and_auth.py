"""Bad input and authentication against ``python -m rag serve``: OpenAI-shaped 4xx with
French messages, never a 5xx nor a traceback; 401 without the right key; keys never in
the server's log."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from tests.support.api_server import FILE_KEY, KEYS


def post_raw(api, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{api.v1}{path}", content=content, timeout=60,
                      headers={**api.headers(), "Content-Type": "application/json", **(headers or {})})


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    assert "Traceback" not in response.text
    if code:
        assert error["code"] == code
    return error


def user(text: str) -> dict:
    return {"role": "user", "content": text}


BAD_CHAT_BODIES = [
    pytest.param(b'{"messages": [', 400, "invalid_json", id="malformed-json"),
    pytest.param(b"\xff\xfe not utf-8", 400, "invalid_json", id="not-utf8"),
    pytest.param(b"[1, 2]", 400, None, id="json-array"),
    pytest.param(b"{}", 400, None, id="no-messages-field"),
    pytest.param(json.dumps({"messages": []}).encode(), 400, None, id="empty-messages"),
    pytest.param(json.dumps({"messages": [user("x" * 200_000)]}).encode(), 400, "context_length_exceeded",
                 id="200000-characters"),
    pytest.param(json.dumps({"model": "gpt-4o", "messages": [user("accueil")]}).encode(), 404, "model_not_found",
                 id="unknown-model"),
    pytest.param(json.dumps({"messages": [user("accueil")], "filters": {"pays": "France"}}).encode(), 400, None,
                 id="unknown-filter"),
    pytest.param(json.dumps({"messages": [user("accueil")], "filters": {"echelle": "  "}}).encode(), 400, None,
                 id="blank-filter"),
    pytest.param(json.dumps({"messages": [{"role": "assistant", "content": "Bonjour"}]}).encode(), 400,
                 "missing_user_message", id="no-user-message"),
    pytest.param(json.dumps({"messages": [user("   ")]}).encode(), 400, None, id="blank-question"),
    pytest.param(json.dumps({"messages": [{"role": "robot", "content": "x"}]}).encode(), 400, None, id="bad-role"),
    pytest.param(json.dumps({"messages": [user("accueil")], "temperature": 7}).encode(), 400, None,
                 id="temperature-out-of-range"),
    pytest.param(json.dumps({"messages": [user("accueil")], "max_tokens": 90_000}).encode(), 400,
                 "invalid_max_tokens", id="max-tokens-too-large"),
    pytest.param(json.dumps({"messages": [user("accueil")], "stream": "peut-être"}).encode(), 400, None,
                 id="stream-not-bool"),
]


@pytest.mark.parametrize("body,status,code", BAD_CHAT_BODIES)
def test_bad_chat_requests_get_openai_shaped_4xx_in_french(api_process, body, status, code):
    error = assert_openai_error(post_raw(api_process, "/chat/completions", body), status, code)
    assert any(ch in error["message"] for ch in "éèàç«") or " : " in error["message"]


def test_unknown_filter_message_lists_the_valid_ones(api_process):
    body = json.dumps({"messages": [user("accueil")], "filters": {"pays": "France"}}).encode()
    error = assert_openai_error(post_raw(api_process, "/chat/completions", body), 400)
    assert "filtre inconnu « pays »" in error["message"] and "echelle" in error["message"]


def test_official_client_raises_its_typed_errors(api_process):
    client = openai.OpenAI(base_url=api_process.v1, api_key=api_process.key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[user("accueil")])
    assert "modèle inconnu" in raised.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fiches-extractive", messages=[])


@pytest.mark.parametrize("path,body", [
    ("/search", {"query": "", "k": 5}),
    ("/search", {"query": "accueil", "k": 0}),
    ("/search", {"query": "accueil", "mode": "magique"}),
    ("/search", {"query": "accueil", "filters": {"pays": "France"}}),
])
def test_bad_search_requests(api_process, path, body):
    assert_openai_error(post_raw(api_process, path, json.dumps(body).encode()), 400)


def test_fiche_routes_errors(api_process):
    headers = api_process.headers()
    assert_openai_error(httpx.get(f"{api_process.v1}/fiches/nulle-part", headers=headers), 404, "fiche_not_found")
    assert_openai_error(httpx.get(f"{api_process.v1}/fiches?pays=France", headers=headers), 400)
    assert_openai_error(httpx.get(f"{api_process.url}/nulle-part"), 404)
    assert_openai_error(httpx.delete(f"{api_process.v1}/models", headers=headers), 405)


def test_oversized_body_is_refused_before_reading(api_process):
    body = json.dumps({"messages": [user("x" * 3_000_000)]}).encode()
    assert_openai_error(post_raw(api_process, "/chat/completions", body), 413, "request_too_large")


def test_search_fiches_and_probes(api_process):
    headers = api_process.headers()
    found = httpx.post(f"{api_process.v1}/search", headers=headers, timeout=30,
                       json={"query": "borne d'accueil mobile", "k": 3, "mode": "bm25"}).json()
    assert found["mode"] == "bm25" and len(found["hits"]) == 3
    assert found["hits"][0]["fiche_id"] == "l-accueil-au-sein-de-l-espace-france-services-de-saint-meen-le-grand"
    listed = httpx.get(f"{api_process.v1}/fiches", headers=headers).json()["data"]
    assert len(listed) == 10
    brest = httpx.get(f"{api_process.v1}/fiches?ville=Brest", headers=headers).json()["data"]
    assert [f["id"] for f in brest] == ["accueil-en-mairie-de-brest"]
    fiche = httpx.get(f"{api_process.v1}/fiches/accueil-en-mairie-de-brest", headers=headers).json()
    assert fiche["title"] == "Accueil en Mairie de brest" and "Description" in fiche["sections"]
    assert fiche["markdown"].startswith("# Accueil en Mairie de brest") and "\n## Description\n" in fiche["markdown"]
    assert httpx.get(f"{api_process.url}/health").json()["status"] == "ok"
    ready = httpx.get(f"{api_process.url}/ready").json()
    assert ready["status"] == "ready" and ready["fiches"] == 10 and ready["chunks"] > 10


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "Basic c2s6eA=="},
                                     {"Authorization": f"Bearer {KEYS[0]}x"}])
def test_missing_or_wrong_key_is_401(api_process, headers):
    for method, path in (("GET", "/models"), ("POST", "/chat/completions"), ("GET", "/fiches")):
        response = httpx.request(method, f"{api_process.v1}{path}", headers=headers, json={"messages": [user("x")]})
        error = assert_openai_error(response, 401, "invalid_api_key")
        assert "clé d'API" in error["message"] and response.headers["WWW-Authenticate"] == "Bearer"
        assert "sk-" not in response.text


def test_every_configured_key_works_and_keys_never_reach_the_log(api_process):
    for key in (*KEYS, FILE_KEY):
        assert httpx.get(f"{api_process.v1}/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    httpx.get(f"{api_process.v1}/models", headers={"Authorization": "Bearer sk-wrong-secret"})
    log = api_process.server_log()
    assert "/v1/models" in log  # the access log is there...
    for secret in (*KEYS, FILE_KEY, "sk-wrong-secret"):
        assert secret not in log  # ...without any key
    assert "Traceback" not in log


def test_a_filter_given_twice_is_refused_not_half_applied(api_process):
    response = httpx.get(f"{api_process.v1}/fiches?ville=Nantes&ville=Brest", headers=api_process.headers())
    error = assert_openai_error(response, 400)
    assert "« ville »" in error["message"] and "une seule fois" in error["message"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_need_no_internet(api_process, page):
    html = httpx.get(f"{api_process.url}{page}").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert assets and not [a for a in assets if "://" in a]  # nothing from a CDN
    for asset in assets:
        assert httpx.get(f"{api_process.url}{asset}").status_code == 200, asset


def test_openapi_documents_the_statuses_the_server_returns(api_process):
    schema = httpx.get(f"{api_process.url}/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)  # validation errors are 400s
    fiche_parameters = {p["name"] for p in schema["paths"]["/v1/fiches"]["get"]["parameters"]}
    assert {"commune", "ville", "partenaire"} <= fiche_parameters  # ?ville= as in the docs
    assert "/v1/models/{model}" in schema["paths"]
