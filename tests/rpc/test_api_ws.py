"""WS /ws: committed blocks, tx commits and consensus steps reach
subscribers as JSON; filters; a slow client is told what it lost."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from rpc_kit import LocalNode, with_api

RECEIVE_TIMEOUT_S = 10


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive_json(timeout=RECEIVE_TIMEOUT_S)
    assert set(message) == {"kind", "seq", "data"}
    return message


def test_subscribers_receive_blocks_and_tx_commits(node: LocalNode) -> None:
    tx = node.transfer(0, 0)

    async def body(client: TestClient) -> None:
        async with client.ws_connect("/ws") as ws:
            hello = await _next(ws)
            assert hello["kind"] == "subscribed"
            assert hello["data"] == {"kinds": None, "height": 0}
            await client.post("/txs", json={"txs": [tx.encode().hex()]})
            block = node.produce_block()
            block_event = await _next(ws)
            assert block_event["kind"] == "block"
            assert block_event["data"]["height"] == 1
            assert block_event["data"]["hash"] == block.hash.hex()
            assert block_event["data"]["tx_count"] == 1
            tx_event = await _next(ws)
            assert tx_event["kind"] == "tx"
            assert tx_event["data"] == {"id": tx.id.hex(), "height": 1, "index": 0}
            assert tx_event["seq"] > block_event["seq"]
            node.events.consensus_step(2, 0, "propose")
            step = await _next(ws)
            assert step["kind"] == "consensus"
            assert step["data"] == {"height": 2, "round": 0, "step": "propose"}

    with_api(node, body)


def test_the_kinds_filter_limits_what_a_client_receives(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        async with client.ws_connect("/ws?kinds=consensus") as ws:
            hello = await _next(ws)
            assert hello["data"]["kinds"] == ["consensus"]
            node.produce_block()  # a block event nobody here wants
            node.events.consensus_step(2, 1, "prevote", votes=3)
            event = await _next(ws)
            assert event["kind"] == "consensus"
            assert event["data"]["votes"] == 3

    with_api(node, body)


def test_a_slow_client_loses_the_oldest_events_and_is_told_how_many(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        async with client.ws_connect("/ws?kinds=block") as ws:
            await _next(ws)
            # published in one go, before the server can forward any
            for height in range(50):
                node.events.publish("block", {"height": height})
            lagged = await _next(ws)
            assert lagged["kind"] == "lagged"
            assert lagged["data"] == {"missed": 46}
            kept = [(await _next(ws))["data"]["height"] for _ in range(4)]
            assert kept == [46, 47, 48, 49]

    with_api(node, body, ws_queue_size=4)
    missed = node.metrics.registry.get_sample_value("ordinet_ws_events_missed_total")
    assert missed == 46


def test_the_stream_ends_when_the_node_closes_its_hub(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        async with client.ws_connect("/ws") as ws:
            await _next(ws)
            assert node.metrics.registry.get_sample_value("ordinet_ws_clients") == 1
            node.events.close()
            message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)

    with_api(node, body)
    assert node.metrics.registry.get_sample_value("ordinet_ws_clients") == 0
    assert node.events.subscriber_count == 0


def test_open_streams_are_closed_when_the_app_stops(node: LocalNode) -> None:
    async def body(client: TestClient) -> aiohttp.ClientWebSocketResponse:
        ws = await client.ws_connect("/ws")
        await _next(ws)
        return ws  # left open: the app's cleanup must close it

    with_api(node, body)
    assert node.events.subscriber_count == 0
    assert node.metrics.registry.get_sample_value("ordinet_ws_clients") == 0


def test_a_plain_get_or_a_bad_filter_is_400(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.get("/ws")
        assert resp.status == 400
        assert (await resp.json())["code"] == "websocket_required"
        for bad in ["bogus", "block,bogus", "BLOCK", "a;b", ",,,", "x" * 40]:
            resp = await client.get("/ws", params={"kinds": bad})
            assert resp.status == 400, bad
            assert (await resp.json())["code"] == "bad_kinds"

    with_api(node, body)
