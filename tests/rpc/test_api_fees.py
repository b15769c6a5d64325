"""GET /fees/estimate: the fee and fee rate for inclusion within N blocks with
probability P, with its basis; defaults 3 and 0.9; bad input is a typed 400.
And the SDK's ``estimate_fee`` on both clients."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from rpc_kit import LocalNode, ServerThread, with_api

from node.client import ApiError, AsyncClient, Client
from node.fees.live import transfer_size
from node.rpc import make_app


def test_the_defaults_and_the_basis(node: LocalNode) -> None:
    node.produce_block()

    async def body(client: TestClient) -> dict:
        for s in range(3):
            for n in range(2):
                await client.post(
                    "/txs", json={"txs": [node.transfer(s, n, fee=40).encode().hex()]}
                )
        node.produce_block()
        resp = await client.get("/fees/estimate")
        assert resp.status == 200
        return await resp.json()

    answer = with_api(node, body)
    assert answer["blocks"] == 3 and answer["confidence"] == 0.9
    assert answer["estimator"] == "model" and len(answer["model_sha256"]) == 64
    assert answer["size"] == transfer_size(node.chain_id)
    assert answer["fee_rate"] >= 0 and answer["fee"] >= 0
    basis = answer["basis"]
    assert basis["height"] == node.ledger.height and basis["recent_blocks"] == 2
    assert set(basis) >= {"pool_txs", "pool_bytes", "block_fullness", "arrival_tps"}


def test_the_fee_is_for_the_size_asked(node: LocalNode) -> None:
    node.produce_block()

    async def body(client: TestClient) -> tuple[dict, dict]:
        await client.post("/txs", json={"txs": [node.transfer(0, 0, fee=500).encode().hex()]})
        node.produce_block()
        await client.post("/txs", json={"txs": [node.transfer(0, 1, fee=500).encode().hex()]})
        small = await (await client.get("/fees/estimate?blocks=1&confidence=0.5&size=100")).json()
        big = await (await client.get("/fees/estimate?blocks=1&confidence=.5&size=1000")).json()
        return small, big

    small, big = with_api(node, body)
    assert small["fee_rate"] == big["fee_rate"]
    assert big["size"] == 1000 and big["fee"] >= small["fee"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("blocks=0", "bad_blocks"),
        ("blocks=-1", "bad_blocks"),
        ("blocks=1009", "bad_blocks"),
        ("blocks=2.5", "bad_blocks"),
        ("blocks=x", "bad_blocks"),
        ("blocks=99999999999999999999999", "bad_blocks"),
        ("confidence=0", "bad_confidence"),
        ("confidence=1", "bad_confidence"),
        ("confidence=1.5", "bad_confidence"),
        ("confidence=-0.5", "bad_confidence"),
        ("confidence=nan", "bad_confidence"),
        ("confidence=inf", "bad_confidence"),
        ("confidence=0.9_1", "bad_confidence"),
        ("confidence=", "bad_confidence"),
        ("confidence=1e999", "bad_confidence"),
        ("size=0", "bad_size"),
        ("size=abc", "bad_size"),
    ],
)
def test_bad_input_is_a_typed_400(node: LocalNode, query: str, code: str) -> None:
    async def body(client: TestClient) -> tuple[int, dict]:
        resp = await client.get(f"/fees/estimate?{query}")
        return resp.status, await resp.json()

    status, answer = with_api(node, body)
    assert status == 400, query
    assert answer["code"] == code and isinstance(answer["error"], str)


def test_both_sdk_clients_estimate_fees(server: ServerThread, tmp_path) -> None:
    local = server.call(LocalNode, tmp_path)
    server.call(local.produce_block)
    url = server.serve(lambda: make_app(local))
    with Client(url) as client:
        answer = client.estimate_fee(blocks=2, confidence=0.75, size=300)
        assert (answer["blocks"], answer["confidence"], answer["size"]) == (2, 0.75, 300)
        assert client.estimate_fee()["blocks"] == 3
        with pytest.raises(ValueError):
            client.estimate_fee(blocks=0)
        with pytest.raises(ValueError):
            client.estimate_fee(confidence=1.0)

    async def use_async() -> dict:
        async with AsyncClient(url) as client:
            return await client.estimate_fee(blocks=5)

    assert asyncio.run(use_async())["blocks"] == 5
    with Client(url) as client, pytest.raises(ApiError) as caught:
        client._do(_raw("/fees/estimate?blocks=5000"))
    assert caught.value.code == "bad_blocks"
    server.call(local.close)


def _raw(path: str):
    from node.client import _Call

    return _Call("GET", path)
