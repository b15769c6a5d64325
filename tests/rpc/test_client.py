"""The SDK: the synchronous Client against a node served on a real port,
and AsyncClient against the same app in-process."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from rpc_kit import FUNDS, LocalNode, ServerThread

from node import Client
from node.client import ApiError, AsyncClient, NodeUnreachable
from node.errors import OrdinetError
from node.rpc import make_app


@pytest.fixture
def served(server: ServerThread, tmp_path: Path):
    node = server.call(LocalNode, tmp_path, admin_enabled=True)
    url = server.serve(lambda: make_app(node))
    yield server, node, url
    server.call(node.close)


def test_submit_then_wait_for_the_commit(served) -> None:
    server, node, url = served
    tx, gapped = server.call(node.transfer, 0, 0), server.call(node.transfer, 0, 5)
    with Client(url, timeout=10) as client:
        results = client.submit([tx, gapped.encode(), "zz"])
        assert [r["accepted"] for r in results] == [True, True, False]
        assert results[0]["id"] == tx.id.hex()
        assert results[2]["code"] == "bad_hex"
        assert client.tx(tx.id)["status"] == "pending"
        assert client.next_nonce(tx.sender) == 1
        server.call_soon(node.produce_block)
        committed = client.wait_for_tx(tx.id, timeout_s=10)
        assert (committed["status"], committed["height"], committed["index"]) == (
            "committed",
            1,
            0,
        )
        status = client.wait_for_height(1, timeout_s=10)
        assert status["height"] >= 1 and status["chain_id"] == "rpc-test"
        account = client.account(tx.sender.hex())
        assert (account["balance"], account["nonce"]) == (FUNDS - tx.amount - tx.fee, 1)
        assert client.block(1)["txs"] == [tx.id.hex()]
        assert client.block("latest")["height"] == 1


def test_reading_every_endpoint(served) -> None:
    url = served[2]
    client = Client(url)
    assert client.status()["height"] == 0
    unknown = client.tx(b"\x01" * 32)
    assert (unknown["status"], unknown["code"], unknown["id"]) == (
        "unknown",
        "not_found",
        "01" * 32,
    )
    assert client.mempool(limit=5)["size"] == 0
    assert client.peers() == []
    assert client.consensus()["engine"] == "poa"
    assert "ordinet_height" in client.metrics()
    assert "/txs" in client.openapi()["paths"]
    assert client.admin_partition([b"\xaa" * 32]) == ["aa" * 32]
    client.admin_delay(10)
    client.admin_heal()
    client.close()


def test_big_submissions_are_sent_in_batches(served) -> None:
    server, node, url = served
    txs = [server.call(node.transfer, i % 3, i // 3) for i in range(7)]
    with Client(url, batch_size=2) as client:
        results = client.submit(txs)
    assert [r["id"] for r in results] == [tx.id.hex() for tx in txs]
    assert all(r["accepted"] for r in results)


def test_api_errors_are_typed(served) -> None:
    url = served[2]
    with Client(url) as client, pytest.raises(ApiError) as info:
        client.block(10**6)
    assert (info.value.status, info.value.code) == (404, "not_found")
    assert isinstance(info.value, OrdinetError)
    with Client(url) as client:
        with pytest.raises(ApiError) as info:
            client.mempool(limit=10**9)
        assert (info.value.status, info.value.code) == (400, "bad_limit")
        with pytest.raises(ValueError):
            client.account("abc")
        with pytest.raises(ValueError):
            client.block(-1)


def test_wait_for_tx_times_out_when_nothing_commits(served) -> None:
    server, node, url = served
    tx = server.call(node.transfer, 1, 0)
    with Client(url) as client:
        client.submit([tx])
        with pytest.raises(TimeoutError, match="not committed"):
            client.wait_for_tx(tx.id, timeout_s=0.3, poll_s=0.05)
        with pytest.raises(TimeoutError, match="height 5"):
            client.wait_for_height(5, timeout_s=0.2, poll_s=0.05)


def test_the_client_reconnects_after_the_server_drops_idle_connections(served) -> None:
    with Client(served[2]) as client:
        assert client.status()["height"] == 0
        client._conn.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        assert client.status()["height"] == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_closed_port_is_node_unreachable() -> None:
    with pytest.raises(NodeUnreachable):
        Client(f"http://127.0.0.1:{_closed_port()}", timeout=2).status()
    with pytest.raises(ValueError):
        Client("ftp://example.org")


def test_the_async_client_has_the_same_api(node: LocalNode) -> None:
    tx = node.transfer(0, 0)

    async def main() -> None:
        async with TestServer(make_app(node)) as test_server:
            url = str(test_server.make_url("/"))
            async with AsyncClient(url) as client:
                results = await client.submit([tx])
                assert results[0]["accepted"]
                assert (await client.tx(tx.id.hex()))["status"] == "pending"
                node.produce_block()
                assert (await client.wait_for_tx(tx.id, timeout_s=5))["height"] == 1
                assert (await client.wait_for_height(1, timeout_s=5))["height"] == 1
                assert (await client.account(tx.recipient))["balance"] == FUNDS + tx.amount
                assert (await client.block("latest"))["txs"] == [tx.id.hex()]
                assert (await client.mempool())["size"] == 0
                assert await client.peers() == []
                assert (await client.consensus())["height"] == 2
                with pytest.raises(ApiError) as info:
                    await client.admin_heal()
                assert (info.value.status, info.value.code) == (403, "admin_disabled")
            async with AsyncClient(f"http://127.0.0.1:{_closed_port()}", timeout=2) as gone:
                with pytest.raises(NodeUnreachable):
                    await gone.status()

    asyncio.run(main())
