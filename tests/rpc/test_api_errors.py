"""Whatever a client sends, the answer is JSON and never a 500: unknown
routes, wrong methods, and (Hypothesis) random paths, methods and bodies
thrown at a served node."""

from __future__ import annotations

import http.client
import json
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from rpc_kit import LocalNode, ServerThread, with_api

from node.rpc import ROUTES, make_app


def test_an_unknown_route_is_a_json_404(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        for path in ["/", "/nope", "/blocks", "/txs/", "/blocks/1/extra", "/status/x"]:
            resp = await client.get(path)
            assert resp.status == 404, path
            answer = await resp.json()
            assert answer["code"] == "not_found", path

    with_api(node, body)


def test_a_wrong_method_is_a_json_405_that_names_the_allowed_one(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        for method, path, allowed in [
            ("POST", "/status", "GET"),
            ("DELETE", "/txs/" + "00" * 32, "GET"),
            ("GET", "/admin/heal", "POST"),
            ("PUT", "/txs", "POST"),
        ]:
            resp = await client.request(method, path)
            assert resp.status == 405, (method, path)
            assert (await resp.json())["code"] == "method_not_allowed"
            assert allowed in resp.headers["Allow"]

    with_api(node, body)


def test_head_is_answered_for_every_get_route(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        for path in ["/status", "/blocks/latest", "/mempool", "/metrics", "/openapi.json"]:
            assert (await client.head(path)).status == 200, path

    with_api(node, body)


def test_an_error_inside_the_node_is_a_logged_json_500(
    node: LocalNode, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict:
        raise RuntimeError("a bug in the node")

    node.consensus_status = broken  # type: ignore[method-assign]

    async def body(client: TestClient) -> None:
        resp = await client.get("/consensus")
        assert resp.status == 500
        answer = await resp.json()
        assert answer["code"] == "internal_error"
        assert "a bug" not in answer["error"], "internals are not shown to clients"
        assert (await client.get("/status")).status == 200

    with_api(node, body)
    assert "a bug in the node" in caplog.text


def test_requests_are_counted_by_route_method_and_status(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        await client.get("/status")
        await client.get("/no/such/route")
        await client.request("TRACE", "/status")

    with_api(node, body)
    value = node.metrics.registry.get_sample_value
    labels = {"route": "/status", "method": "GET", "status": "200"}
    assert value("ordinet_rpc_requests_total", labels) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value("ordinet_rpc_requests_total", unmatched) == 1
    odd = {"route": "unmatched", "method": "other", "status": "405"}
    assert value("ordinet_rpc_requests_total", odd) == 1


# -- fuzzing a served node ---------------------------------------------------------

_ROUTE_PATHS = [path for _, path, _ in ROUTES]
_SEGMENT = st.one_of(
    st.sampled_from(["latest", "0", "1", "-1", "00" * 32, "zz", "0x" + "ab" * 32, "", ".."]),
    st.text(string.printable + "é☃\x00", max_size=70),
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    template = draw(st.sampled_from([*_ROUTE_PATHS, "/", "/txs/{id}/{id}", "/{id}"]))
    parts = [
        quote(draw(_SEGMENT), safe="") if part.startswith("{") else part
        for part in template.split("/")
    ]
    path = "/".join(parts) or "/"
    if draw(st.booleans()):
        keys = st.sampled_from(["limit", "kinds", "blocks", "confidence", "size", "x"])
        query = draw(st.dictionaries(keys, _SEGMENT))
        path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return path


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_BODIES = st.one_of(
    st.binary(max_size=300),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.lists(st.one_of(st.text(max_size=40), st.binary(max_size=200).map(bytes.hex))).map(
        lambda txs: json.dumps({"txs": txs}).encode()
    ),
    st.lists(st.text(max_size=70)).map(lambda p: json.dumps({"peers": p}).encode()),
    _JSON.map(lambda v: json.dumps({"delay_ms": v}).encode()),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("fuzz")
    with ServerThread() as server:
        local = server.call(LocalNode, directory, admin_enabled=True)
        url = server.serve(lambda: make_app(local, max_body_bytes=4096))
        yield url.removeprefix("http://")
        server.call(local.close)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
    path=paths(),
    body=st.one_of(st.none(), _BODIES),
)
def test_random_requests_never_get_a_500(served: str, method: str, path: str, body) -> None:
    conn = http.client.HTTPConnection(served, timeout=10)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status < 500, (method, path, data[:200])
    if resp.status >= 400 and method != "HEAD":
        answer = json.loads(data)
        assert isinstance(answer["code"], str) and isinstance(answer["error"], str)
