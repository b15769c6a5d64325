"""Request/response between live transports: block ranges for sync, peers."""

from __future__ import annotations

import asyncio
import os

import pytest
from p2pkit import Net, connected, handler_of, net_test, wait_until

from node.p2p.errors import PeerNotConnected, RequestRefused, RequestTimeout
from node.p2p.messages import MAX_BLOCKS_PER_REQUEST, Blocks, GetBlocks, GetPeers, Peers


def fake_chain(n: int, size: int = 64) -> dict[int, tuple[bytes, bytes]]:
    """Heights 1..n of opaque block bytes; even heights carry a commit."""
    return {
        h: (h.to_bytes(8, "big") + os.urandom(size), b"commit" if h % 2 == 0 else b"")
        for h in range(1, n + 1)
    }


def test_get_blocks_returns_the_range_the_peer_has() -> None:
    async def body(net: Net) -> None:
        server = await net.node(pex_interval_s=0)
        chain = handler_of(server).chain = fake_chain(300)
        client = await net.node(peers=(server,), pex_interval_s=0)
        await wait_until(lambda: connected(client, server), "link")

        full = await client.request(server.node_id, GetBlocks(start=1, end=256), timeout=5)
        assert isinstance(full, Blocks)
        assert list(full.blocks) == [chain[h] for h in range(1, 257)]

        tail = await client.request(server.node_id, GetBlocks(start=290, end=320), timeout=5)
        assert list(tail.blocks) == [chain[h] for h in range(290, 301)]  # a prefix

        with pytest.raises(RequestRefused) as refused:
            await client.request(server.node_id, GetBlocks(start=400, end=401), timeout=5)
        assert refused.value.reason == "unknown_height"
        assert client.metrics.requests["ok"] == 2
        assert client.metrics.requests["refused"] == 1
        # asking is not gossip: the server's handler saw no message from it
        assert handler_of(server).received == []

    net_test(body)


def test_a_blocks_answer_is_cut_to_fit_one_message() -> None:
    async def body(net: Net) -> None:
        limit = 256 * 1024
        server = await net.node(pex_interval_s=0, max_msg_bytes=limit, burst_bytes=limit)
        chain = handler_of(server).chain = fake_chain(20, size=60_000)
        client = await net.node(
            peers=(server,), pex_interval_s=0, max_msg_bytes=limit, burst_bytes=limit
        )
        await wait_until(lambda: connected(client, server), "link")
        reply = await client.request(server.node_id, GetBlocks(start=1, end=20), timeout=5)
        assert 1 <= len(reply.blocks) < 20
        assert list(reply.blocks) == [chain[h] for h in range(1, len(reply.blocks) + 1)]

    net_test(body)


def test_requests_fail_fast_when_the_peer_is_gone_and_time_out_when_it_is_silent() -> None:
    async def body(net: Net) -> None:
        server = await net.node(pex_interval_s=0)
        handler_of(server).chain = fake_chain(5)
        gate = handler_of(server).serve_gate = asyncio.Event()  # the server stalls
        client = await net.node(peers=(server,), pex_interval_s=0)
        await wait_until(lambda: connected(client, server), "link")

        with pytest.raises(RequestTimeout):
            await client.request(server.node_id, GetBlocks(start=1, end=2), timeout=0.2)
        assert client.metrics.requests["timeout"] == 1

        pending = asyncio.create_task(
            client.request(server.node_id, GetBlocks(start=1, end=2), timeout=30)
        )
        await wait_until(lambda: server.metrics.msgs_in["get_blocks"] == 2, "request arrived")
        client.block_peers([server.node_id])  # the link goes down mid-request
        with pytest.raises(PeerNotConnected):
            await pending
        with pytest.raises(PeerNotConnected):
            await client.request(server.node_id, GetBlocks(start=1, end=2), timeout=5)
        gate.set()

    net_test(body)


def test_get_peers_lists_the_other_peers_at_addresses_a_dial_proved() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(pex_interval_s=0)
        hub = await net.node(peers=(a, b), pex_interval_s=0)  # the hub dials A and B
        c = await net.node(peers=(hub,), pex_interval_s=0)  # C only dials in
        await wait_until(lambda: all(connected(hub, t) for t in (a, b, c)), "star")
        reply = await a.request(hub.node_id, GetPeers(), timeout=5)
        assert isinstance(reply, Peers)
        # C's listen address is only its claim: the hub never reached C there
        assert reply.peers == ((b.node_id, "127.0.0.1", b.listen_port),)

    net_test(body)


def test_request_rejects_what_is_not_a_request() -> None:
    async def body(net: Net) -> None:
        a = await net.node()
        with pytest.raises(ValueError):
            await a.request(b"\x00" * 32, Blocks(()))  # type: ignore[arg-type]
        assert MAX_BLOCKS_PER_REQUEST == 256

    net_test(body)


def test_a_handler_answer_that_would_break_the_wire_rules_is_never_sent() -> None:
    async def body(net: Net) -> None:
        server = await net.node(pex_interval_s=0)
        handler_of(server).chain = {1: (b"", b"")}  # an empty block encoding: not allowed
        client = await net.node(peers=(server,), pex_interval_s=0)
        await wait_until(lambda: connected(client, server), "link")
        with pytest.raises(RequestRefused) as refused:
            await client.request(server.node_id, GetBlocks(start=1, end=1), timeout=5)
        assert refused.value.reason == "internal_error"
        assert client.metrics.penalties == {} and connected(client, server)

    net_test(body)
