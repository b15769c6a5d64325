"""POST /admin/partition, /admin/heal, /admin/delay: 403 unless the node
enables admin calls; otherwise they reach the node with checked arguments."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from rpc_kit import LocalNode, with_api

PEER_A, PEER_B = "aa" * 32, "bb" * 32


def test_admin_calls_are_403_when_disabled_whatever_the_body(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        for path, payload in [
            ("/admin/partition", b'{"peers": []}'),
            ("/admin/heal", b""),
            ("/admin/delay", b'{"delay_ms": 100}'),
            ("/admin/delay", b"not json"),
        ]:
            resp = await client.post(path, data=payload)
            assert resp.status == 403, path
            answer = await resp.json()
            assert answer["code"] == "admin_disabled"
            assert "testnet" in answer["error"]

    with_api(node, body)
    assert node.admin_calls == []


def test_partition_heal_and_delay_reach_the_node(admin_node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.post("/admin/partition", json={"peers": [PEER_A, "0x" + PEER_B]})
        assert resp.status == 200
        assert await resp.json() == {"blocked": [PEER_A, PEER_B]}
        resp = await client.post("/admin/delay", json={"delay_ms": 250})
        assert await resp.json() == {"delay_ms": 250}
        resp = await client.post("/admin/heal")
        assert await resp.json() == {"healed": True}

    with_api(admin_node, body)
    assert admin_node.admin_calls == [
        ("block_peers", [bytes.fromhex(PEER_A), bytes.fromhex(PEER_B)]),
        ("set_delay", 250),
        ("heal", None),
    ]


def test_bad_admin_arguments_are_400_and_never_reach_the_node(admin_node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        cases = [
            ("/admin/partition", {"peers": "aa"}, "bad_body"),
            ("/admin/partition", {"peers": ["xyz"]}, "bad_hex"),
            ("/admin/partition", {"peers": ["aa" * 20]}, "bad_length"),
            ("/admin/partition", {}, "bad_body"),
            ("/admin/delay", {"delay_ms": -1}, "bad_body"),
            ("/admin/delay", {"delay_ms": "100"}, "bad_body"),
            ("/admin/delay", {"delay_ms": True}, "bad_body"),
            ("/admin/delay", {"delay_ms": 1.5}, "bad_body"),
            ("/admin/delay", {"delay_ms": 10**9}, "bad_body"),
        ]
        for path, payload, code in cases:
            resp = await client.post(path, json=payload)
            assert resp.status == 400, payload
            assert (await resp.json())["code"] == code, payload

    with_api(admin_node, body)
    assert admin_node.admin_calls == []


def test_a_node_refusing_an_argument_is_a_400(admin_node: LocalNode) -> None:
    async def refuse(delay_ms: int) -> None:
        raise ValueError("delay not supported by this transport")

    admin_node.admin_set_delay = refuse  # type: ignore[method-assign]

    async def body(client: TestClient) -> None:
        resp = await client.post("/admin/delay", json={"delay_ms": 5})
        assert resp.status == 400
        assert "not supported" in (await resp.json())["error"]

    with_api(admin_node, body)
