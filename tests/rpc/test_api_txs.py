"""POST /txs, GET /txs/{id} and GET /mempool: admission results per tx,
the life of a tx (pending -> committed), the policy's order, and 4xx for
bodies that are not {"txs": [strings]}."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from rpc_kit import LocalNode, wallet, with_api


async def _submit(client: TestClient, hexes: list[str]) -> dict:
    resp = await client.post("/txs", json={"txs": hexes})
    assert resp.status == 200
    return await resp.json()


def test_each_tx_of_a_batch_gets_its_own_result_in_order(node: LocalNode) -> None:
    good = node.transfer(0, 0)
    other_chain = wallet(1).transfer(
        to=wallet(0).address, amount=1, fee=10, nonce=0, chain_id="elsewhere"
    )
    forged = node.transfer(1, 0).replace(amount=6)  # signature no longer matches
    stale_gap = node.transfer(2, 10_000)  # far beyond the next nonce
    batch = [
        good.encode().hex(),
        good.encode().hex(),  # the same tx again
        "not hex at all",
        good.encode()[:-1].hex(),  # hex, but a truncated transaction
        other_chain.encode().hex(),
        forged.encode().hex(),
        stale_gap.encode().hex(),
        "ab" * 5000,  # longer than any transaction
    ]

    async def body(client: TestClient) -> None:
        answer = await _submit(client, batch)
        results = answer["results"]
        assert len(results) == len(batch)
        assert results[0] == {
            "id": good.id.hex(),
            "accepted": True,
            "error": None,
            "code": None,
        }
        codes = [r["code"] for r in results[1:]]
        assert codes == [
            "duplicate",
            "bad_hex",
            "truncated",
            "wrong_chain_id",
            "invalid_signature",
            "nonce_too_far",
            "too_large",
        ]
        assert all(not r["accepted"] and r["error"] for r in results[1:])
        assert results[2]["id"] is None and results[3]["id"] is None
        assert results[4]["id"] == other_chain.id.hex()
        assert (answer["accepted"], answer["refused"]) == (1, len(batch) - 1)
        assert node.gossiped == [good]

    with_api(node, body)


def test_hex_may_carry_0x_and_upper_case(node: LocalNode) -> None:
    tx = node.transfer(0, 0)

    async def body(client: TestClient) -> None:
        answer = await _submit(client, ["0x" + tx.encode().hex().upper()])
        assert answer["results"][0]["accepted"] is True

    with_api(node, body)


def test_an_empty_batch_is_an_empty_answer(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        assert await _submit(client, []) == {"results": [], "accepted": 0, "refused": 0}

    with_api(node, body)


def test_a_body_that_is_not_a_list_of_strings_is_400(node: LocalNode) -> None:
    bodies = {
        b"": "bad_json",
        b"{": "bad_json",
        b"\xff\xfe": "bad_json",
        b"[" * 100_000: "bad_json",
        b"1" * 5000: "bad_json",
        b"[]": "bad_body",
        b'"txs"': "bad_body",
        b"{}": "bad_body",
        b'{"tx": []}': "bad_body",
        b'{"txs": "00"}': "bad_body",
        b'{"txs": [1, 2]}': "bad_body",
        b'{"txs": [null]}': "bad_body",
        b'{"txs": [["00"]]}': "bad_body",
        b'{"txs": {"a": "00"}}': "bad_body",
    }

    async def body(client: TestClient) -> None:
        for raw, code in bodies.items():
            resp = await client.post("/txs", data=raw)
            assert resp.status == 400, raw[:20]
            answer = await resp.json()
            assert answer["code"] == code, raw[:20]
            assert answer["error"]

    with_api(node, body)


def test_a_batch_over_the_limit_is_413(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.post("/txs", json={"txs": ["00"] * 11})
        assert resp.status == 413
        assert (await resp.json())["code"] == "batch_too_large"

    with_api(node, body, max_batch_txs=10)


def test_a_body_over_the_size_limit_is_413(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.post("/txs", data=b'{"txs": ["' + b"00" * 40_000 + b'"]}')
        assert resp.status == 413
        assert (await resp.json())["code"] == "body_too_large"
        # the node still serves afterwards
        assert (await client.get("/status")).status == 200

    with_api(node, body, max_body_bytes=64 * 1024)


def test_a_tx_is_pending_then_committed_with_its_place_in_the_block(node: LocalNode) -> None:
    first, second = node.transfer(0, 0), node.transfer(0, 1)

    async def body(client: TestClient) -> None:
        await _submit(client, [first.encode().hex(), second.encode().hex()])
        pending = await (await client.get(f"/txs/{second.id.hex()}")).json()
        assert pending["status"] == "pending"
        assert pending["executable"] is True
        assert pending["tx"] == second.to_json()
        assert pending["score"] is not None
        node.produce_block()
        committed = await (await client.get(f"/txs/{second.id.hex()}")).json()
        assert committed == {
            "id": second.id.hex(),
            "status": "committed",
            "height": 1,
            "index": 1,
            "tx": second.to_json(),
        }

    with_api(node, body)


def test_a_tx_behind_a_nonce_gap_is_pending_but_not_executable(node: LocalNode) -> None:
    gapped = node.transfer(0, 3)

    async def body(client: TestClient) -> None:
        await _submit(client, [gapped.encode().hex()])
        answer = await (await client.get(f"/txs/{gapped.id.hex()}")).json()
        assert (answer["status"], answer["executable"]) == ("pending", False)

    with_api(node, body)


def test_an_unknown_tx_is_404_with_status_unknown(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.get("/txs/" + "00" * 32)
        assert resp.status == 404
        answer = await resp.json()
        assert answer["status"] == "unknown"
        assert answer["code"] == "not_found"
        assert answer["id"] == "00" * 32
        for bad, code in [("xyz", "bad_hex"), ("00" * 16, "bad_length")]:
            resp = await client.get(f"/txs/{bad}")
            assert resp.status == 400
            assert (await resp.json())["code"] == code

    with_api(node, body)


def test_mempool_lists_txs_in_the_policys_order_with_scores(node: LocalNode) -> None:
    # the fee policy ranks by fee rate; each sender's txs stay in nonce order
    txs = [node.transfer(0, 0, fee=10), node.transfer(1, 0, fee=300), node.transfer(2, 0, fee=50)]
    txs.append(node.transfer(1, 1, fee=1))

    async def body(client: TestClient) -> None:
        await _submit(client, [tx.encode().hex() for tx in txs])
        answer = await (await client.get("/mempool?limit=10")).json()
        assert answer["size"] == 4
        assert answer["bytes"] == sum(tx.size for tx in txs)
        assert (answer["pending"], answer["queued"]) == (4, 0)
        assert answer["policy"] == "fee"
        listed = [t["id"] for t in answer["txs"]]
        assert listed == [txs[1].id.hex(), txs[2].id.hex(), txs[0].id.hex(), txs[3].id.hex()]
        scores = [t["score"] for t in answer["txs"][:3]]
        assert scores == sorted(scores, reverse=True)
        top2 = await (await client.get("/mempool?limit=2")).json()
        assert [t["id"] for t in top2["txs"]] == listed[:2]
        none = await (await client.get("/mempool?limit=0")).json()
        assert none["txs"] == [] and none["size"] == 4
        node.produce_block()
        empty = await (await client.get("/mempool")).json()
        assert (empty["size"], empty["bytes"], empty["txs"]) == (0, 0, [])

    with_api(node, body)


def test_a_mempool_limit_out_of_range_is_400(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        for bad in ["-1", "10001", "abc", "1e3", "", " 5"]:
            resp = await client.get("/mempool", params={"limit": bad})
            assert resp.status == 400, bad
            assert (await resp.json())["code"] == "bad_limit"

    with_api(node, body)
