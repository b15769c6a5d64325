"""GET /status, /blocks/{height}, /blocks/latest, /accounts/{address},
/consensus, /peers: what they answer, and 4xx for bad input."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from rpc_kit import FUNDS, LocalNode, with_api

from node.rpc import STATUS_KEYS


def test_status_has_every_documented_key_and_follows_the_head(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        before = await (await client.get("/status")).json()
        assert set(STATUS_KEYS) <= set(before)
        assert before["chain_id"] == "rpc-test"
        assert before["height"] == 0
        block = node.produce_block()
        after = await (await client.get("/status")).json()
        assert after["height"] == 1
        assert after["head_hash"] == block.hash.hex()

    with_api(node, body)


def test_blocks_by_height_and_latest_carry_header_policy_and_tx_ids(node: LocalNode) -> None:
    tx = node.transfer(0, 0)

    async def body(client: TestClient) -> None:
        resp = await client.post("/txs", json={"txs": [tx.encode().hex()]})
        assert (await resp.json())["accepted"] == 1
        block = node.produce_block()
        latest = await (await client.get("/blocks/latest")).json()
        by_height = await (await client.get("/blocks/1")).json()
        assert latest == by_height
        assert latest["hash"] == block.hash.hex()
        assert latest["height"] == 1
        assert latest["policy"] == "fee"
        assert latest["model_hash"] is None
        assert latest["txs"] == [tx.id.hex()]
        assert latest["tx_count"] == 1
        genesis = await (await client.get("/blocks/0")).json()
        assert genesis["height"] == 0 and genesis["txs"] == []
        assert latest["prev_hash"] == genesis["hash"]

    with_api(node, body)


def test_a_block_above_the_head_is_404_and_a_bad_height_is_400(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.get("/blocks/1")
        assert resp.status == 404
        assert (await resp.json())["code"] == "not_found"
        for bad in ["-1", "abc", "1.5", "99999999999999999999999", "%20", "0x10", "٣"]:
            resp = await client.get(f"/blocks/{bad}")
            assert resp.status == 400, bad
            assert (await resp.json())["code"] == "bad_height"

    with_api(node, body)


def test_accounts_report_balance_nonce_and_pending_nonce(node: LocalNode) -> None:
    sender = node.wallets[0]

    async def body(client: TestClient) -> None:
        funded = await (await client.get(f"/accounts/{sender.address_hex}")).json()
        assert funded == {
            "address": sender.address_hex,
            "balance": FUNDS,
            "nonce": 0,
            "pending_nonce": 0,
        }
        txs = [node.transfer(0, n).encode().hex() for n in range(2)]
        await client.post("/txs", json={"txs": txs})
        pooled = await (await client.get(f"/accounts/0x{sender.address_hex.upper()}")).json()
        assert (pooled["nonce"], pooled["pending_nonce"]) == (0, 2)
        node.produce_block()
        committed = await (await client.get(f"/accounts/{sender.address_hex}")).json()
        assert (committed["nonce"], committed["pending_nonce"]) == (2, 2)
        assert committed["balance"] == FUNDS - 2 * (5 + 10)

    with_api(node, body)


def test_an_unknown_address_is_the_zero_account(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        resp = await client.get("/accounts/" + "ab" * 32)
        assert resp.status == 200
        answer = await resp.json()
        assert (answer["balance"], answer["nonce"]) == (0, 0)

    with_api(node, body)


def test_a_malformed_address_is_400_with_a_code(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        cases = {
            "zz" * 32: "bad_hex",
            "abc": "bad_hex",  # odd length
            "ab" * 31: "bad_length",
            "ab" * 33: "bad_length",
            "ab " * 32: "bad_hex",
        }
        for address, code in cases.items():
            resp = await client.get(f"/accounts/{address}")
            assert resp.status == 400, address
            assert (await resp.json())["code"] == code, address

    with_api(node, body)


def test_consensus_shows_the_live_engine_state(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        before = await (await client.get("/consensus")).json()
        assert before["engine"] == "poa"
        assert before["height"] == 1
        assert before["proposer"] == node.validator.address_hex
        node.produce_block()
        after = await (await client.get("/consensus")).json()
        assert after["height"] == 2

    with_api(node, body)


def test_peers_lists_the_connected_peers(node: LocalNode) -> None:
    async def body(client: TestClient) -> None:
        answer = await (await client.get("/peers")).json()
        assert answer == {"count": 0, "peers": []}

    with_api(node, body)
