"""GET /metrics is Prometheus text from the node's own registry, and
GET /openapi.json describes exactly the routes the app serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from rpc_kit import LocalNode, with_api

from node.rpc import ROUTES, NodeMetrics, make_app


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_parse_as_prometheus_text_with_the_node_figures(node: LocalNode) -> None:
    txs = [node.transfer(0, 0), node.transfer(1, 0), node.transfer(1, 0, fee=1)]

    async def body(client: TestClient) -> str:
        await client.post("/txs", json={"txs": [tx.encode().hex() for tx in txs] + ["zz"]})
        node.produce_block()
        await client.post("/txs", json={"txs": [node.transfer(2, 0).encode().hex()]})
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return await resp.text()

    samples = _samples(with_api(node, body))
    assert samples[("ordinet_height", ())] == 1
    assert samples[("ordinet_blocks_committed_total", ())] == 1
    assert samples[("ordinet_txs_committed_total", ())] == 2
    assert samples[("ordinet_mempool_txs", ())] == 1
    assert samples[("ordinet_mempool_bytes", ())] == node.mempool.size_bytes
    assert samples[("ordinet_peers", ())] == 0
    # admission, from the mempool's own counters
    assert samples[("ordinet_mempool_admitted_total", ())] == 3
    refused = ("ordinet_mempool_refused_total", (("reason", "replacement_underpriced"),))
    assert samples[refused] == 1
    assert samples[("ordinet_mempool_left_total", (("reason", "included"),))] == 2
    # and through the API, by result
    assert samples[("ordinet_rpc_txs_total", (("result", "accepted"),))] == 3
    assert samples[("ordinet_rpc_txs_total", (("result", "bad_hex"),))] == 1
    assert ("ordinet_consensus_step_seconds_count", (("step", "propose"),)) not in samples


def test_each_node_has_its_own_registry(tmp_path: Path) -> None:
    a, b = NodeMetrics(), NodeMetrics()
    a.height.set(7)
    assert a.registry.get_sample_value("ordinet_height") == 7
    assert b.registry.get_sample_value("ordinet_height") == 0


def test_attached_p2p_counters_are_read_at_scrape_time() -> None:
    metrics = NodeMetrics()
    snapshot = {
        "msgs_in": {"txs": 3},
        "dropped": {"throttled": 2},
        "connections": 4,
        "banned": {"node_ids": ["ab"], "addresses": [], "ips": []},
        "delay_ms": 0.0,
        "blocked": [],
    }
    metrics.attach(p2p_snapshot=lambda: snapshot)
    value = metrics.registry.get_sample_value
    assert value("ordinet_p2p_msgs_in_total", {"kind": "txs"}) == 3
    snapshot["msgs_in"] = {"txs": 5}
    assert value("ordinet_p2p_msgs_in_total", {"kind": "txs"}) == 5
    assert value("ordinet_p2p_dropped_total", {"reason": "throttled"}) == 2
    assert value("ordinet_p2p_connections_total") == 4
    assert value("ordinet_p2p_banned", {"target": "node_ids"}) == 1


def test_runtime_helpers_feed_the_histograms() -> None:
    metrics = NodeMetrics()
    metrics.round_entered(5, 2)
    metrics.step_finished("prevote", 0.02)
    metrics.block_build_seconds.observe(0.003)
    value = metrics.registry.get_sample_value
    assert value("ordinet_consensus_round") == 2
    assert value("ordinet_consensus_rounds_total") == 1
    assert value("ordinet_consensus_step_seconds_count", {"step": "prevote"}) == 1
    assert value("ordinet_block_build_seconds_count") == 1


def _routed(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def test_the_openapi_document_describes_exactly_the_routes(node: LocalNode) -> None:
    async def body(client: TestClient) -> dict:
        resp = await client.get("/openapi.json")
        assert resp.status == 200
        return await resp.json()

    doc = with_api(node, body)
    assert doc["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert documented == _routed(make_app(node))
    assert documented == {(method, path) for method, path, _ in ROUTES}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and operation["responses"], (method, path)
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}


def test_every_schema_reference_in_the_document_resolves(node: LocalNode) -> None:
    async def body(client: TestClient) -> dict:
        return await (await client.get("/openapi.json")).json()

    doc = with_api(node, body)
    refs: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if "$ref" in value:
                refs.append(value["$ref"])
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(doc)
    assert refs
    schemas = doc["components"]["schemas"]
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref


def _documented(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method.lower()]


def test_the_three_schemathesis_mismatches_agree_with_the_document(node: LocalNode) -> None:
    """GET /txs/null, a plain GET /ws and a non-hex POST /txs item: the answer
    is one the document gives for that request (issue 11)."""

    async def body(client: TestClient) -> None:
        doc = await (await client.get("/openapi.json")).json()

        resp = await client.get("/txs/null")
        assert resp.status == 400 and (await resp.json())["code"] == "bad_hex"
        assert "bad_hex" in _documented(doc, "GET", "/txs/{id}")["responses"]["400"]["description"]

        resp = await client.get("/ws")
        assert resp.status == 400 and (await resp.json())["code"] == "websocket_required"
        ws_op = _documented(doc, "GET", "/ws")
        required_headers = {
            p["name"] for p in ws_op["parameters"] if p["in"] == "header" and p["required"]
        }
        # without the handshake headers the request breaks the document: 400 is its answer
        assert {"Upgrade", "Connection", "Sec-WebSocket-Key"} <= required_headers
        assert "websocket_required" in ws_op["responses"]["400"]["description"]

        resp = await client.post("/txs", json={"txs": ["\u0084", "zz", "00"]})
        answer = await resp.json()
        # one bad item is refused in its own result, never the batch ...
        assert resp.status == 200
        assert [r["code"] for r in answer["results"][:2]] == ["bad_hex", "bad_hex"]
        # ... and the document says any string is a valid item
        items = doc["components"]["schemas"]["SubmitRequest"]["properties"]["txs"]["items"]
        assert items == {"type": "string"}

    with_api(node, body)


def test_the_http_listener_counters_are_read_at_scrape_time() -> None:
    metrics = NodeMetrics()
    stats = {
        "open": 3,
        "max_connections": 256,
        "refused": 7,
        "timeouts": {"head": 5, "body": 1},
        "bad_requests": 2,
        "accept_errors": 4,
    }
    metrics.attach(http_stats=lambda: {"rpc": stats})
    samples = _samples(metrics.render().decode())
    rpc = (("listener", "rpc"),)
    assert samples[("ordinet_http_open", rpc)] == 3
    assert samples[("ordinet_http_refused_total", rpc)] == 7
    assert samples[("ordinet_http_accept_errors_total", rpc)] == 4
    assert samples[("ordinet_http_timeouts_total", (*rpc, ("phase", "head")))] == 5
