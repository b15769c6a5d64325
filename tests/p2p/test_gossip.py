"""Live transports on loopback: discovery, gossip exactly once, tx batching."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from p2pkit import (
    HEAD,
    GossipHandler,
    Net,
    RawPeer,
    Refused,
    connected,
    free_port,
    handler_of,
    net_test,
    wait_until,
)

from node import crypto
from node.p2p.messages import Consensus, GetBlocks, NewBlock, Status, Txs


def test_three_nodes_find_each_other_through_static_peers_and_peer_exchange() -> None:
    async def body(net: Net) -> None:
        a = await net.node()
        b = await net.node(peers=(a,))
        c = await net.node(peers=(b,))  # C knows only B; it learns A from B
        await wait_until(lambda: connected(a, b) and connected(b, c), "static links")
        await wait_until(lambda: connected(a, c), "A and C meet through peer exchange")
        for t in (a, b, c):
            assert len(t.peers) == 2
        assert a.listen_address in c.known_addresses()
        # the Hello told each side the other's head
        peer_b = next(p for p in a.peers if p.node_id == b.node_id)
        assert (peer_b.height, peer_b.head_hash) == HEAD
        assert handler_of(a).connected.count(b.node_id) == 1

    net_test(body)


def test_one_connection_per_pair_when_both_dial_each_other() -> None:
    async def body(net: Net) -> None:
        # each lists the other as a static peer and both start at once, so
        # both dial; whichever links come up, one survives and both ends agree
        port_a, port_b = free_port(), free_port()
        a, b = await asyncio.gather(
            net.node(port=port_a, static_peers=(f"127.0.0.1:{port_b}",), pex_interval_s=0),
            net.node(port=port_b, static_peers=(f"127.0.0.1:{port_a}",), pex_interval_s=0),
        )
        await wait_until(lambda: connected(a, b), "A and B connected")
        await wait_until(lambda: not a._dialing and not b._dialing, "dials settled")
        assert len(a.peers) == len(b.peers) == 1
        (a_side,) = a.peers
        (b_side,) = b.peers
        assert a_side.outbound != b_side.outbound  # both ends hold the same link
        if a.metrics.refused["duplicate_connection"] + b.metrics.refused["duplicate_connection"]:
            lower = a if a.node_id < b.node_id else b
            assert next(iter(lower.peers)).outbound  # the lower id's dial survived
        assert handler_of(a).connected == [b.node_id]
        assert handler_of(a).disconnected == []

    net_test(body)


def test_a_second_connection_from_the_same_node_is_refused() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        first = RawPeer(a)
        second = RawPeer(a, seed=first.seed)
        try:
            await first.connect()
            await wait_until(lambda: a.is_connected(first.node_id), "first link")
            with pytest.raises(Refused) as refused:
                await second.connect()
            assert refused.value.reason == "duplicate_connection"
            assert a.metrics.refused["duplicate_connection"] == 1
            assert a.is_connected(first.node_id)
        finally:
            await first.close()
            await second.close()

    net_test(body)


def test_a_block_is_relayed_along_a_line_and_delivered_once_everywhere() -> None:
    async def body(net: Net) -> None:
        # A - B - C - D in a line, no peer exchange: only relaying reaches D
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        c = await net.node(peers=(b,), pex_interval_s=0)
        d = await net.node(peers=(c,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b) and connected(b, c) and connected(c, d), "line")
        assert not connected(a, c) and not connected(a, d)
        block = NewBlock(b"block-1" * 100)
        assert a.broadcast(block) == 1
        await wait_until(lambda: handler_of(d).of_kind(NewBlock) == [block], "D gets the block")
        for t in (b, c, d):
            assert handler_of(t).of_kind(NewBlock) == [block]
        assert handler_of(a).of_kind(NewBlock) == []
        # broadcasting it again sends nothing: it has been relayed already
        assert a.broadcast(block) == 0
        assert a.broadcast(block, dedup=False) == 1

    net_test(body)


def test_gossip_in_a_full_mesh_reaches_each_node_exactly_once() -> None:
    async def body(net: Net) -> None:
        a = await net.node()
        b = await net.node(peers=(a,))
        c = await net.node(peers=(a, b))
        await wait_until(lambda: all(len(t.peers) == 2 for t in (a, b, c)), "full mesh")
        block = NewBlock(b"block-2" * 50)
        vote = Consensus(b"a vote")
        assert a.broadcast(block, key=crypto.sha256(b"header hash")) == 2
        assert a.broadcast(vote) == 2
        # B and C relay the block to each other: each drops the copy it already has
        dropped = lambda: sum(t.metrics.dropped["duplicate"] for t in (b, c))  # noqa: E731
        await wait_until(lambda: dropped() >= 2, "relayed copies dropped as duplicates")
        for t in (b, c):
            assert handler_of(t).of_kind(NewBlock) == [block]
            assert handler_of(t).of_kind(Consensus) == [vote]
        assert handler_of(a).of_kind(NewBlock) == []
        # the caller's key is what marks it relayed
        assert a.broadcast(NewBlock(b"other bytes"), key=crypto.sha256(b"header hash")) == 0

    net_test(body)


def test_txs_are_batched_and_relayed_without_echo(
    tx_encodings: Callable[[int], list[bytes]],
) -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0, tx_batch_max_txs=64)
        b = await net.node(peers=(a,), pex_interval_s=0)
        c = await net.node(peers=(b,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b) and connected(b, c), "line")
        txs = tx_encodings(200)
        # 40 calls with no await between them coalesce into full batches of 64
        queued = sum(a.queue_txs(txs[i : i + 5]) for i in range(0, 200, 5))
        assert queued == 200
        assert a.queue_txs(txs[:10]) == 0  # already sent
        await wait_until(lambda: len(handler_of(c).txs()) == 200, "C has every tx")
        batches = handler_of(b).of_kind(Txs)
        assert [len(m.txs) for m in batches] == [64, 64, 64, 8]  # type: ignore[attr-defined]
        assert handler_of(b).txs() == txs and handler_of(c).txs() == txs
        # B relayed with origin=A: A never got its own txs back
        assert handler_of(a).txs() == []
        assert a.metrics.msgs_in["txs"] == 0

    net_test(body)


def test_a_txs_batch_delivers_only_the_unseen_txs(
    tx_encodings: Callable[[int], list[bytes]],
) -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0, seen_cache_size=1000)
        await wait_until(lambda: connected(a, b), "link")
        txs = tx_encodings(6)
        assert a.broadcast(Txs(tuple(txs[:4]))) == 1
        await wait_until(lambda: len(handler_of(b).txs()) == 4, "first batch")
        assert a.broadcast(Txs(tuple(txs[2:])), dedup=False) == 1
        await wait_until(lambda: len(handler_of(b).txs()) == 6, "second batch")
        assert handler_of(b).of_kind(Txs)[1].txs == tuple(txs[4:])  # type: ignore[attr-defined]
        assert b.metrics.dropped["duplicate"] == 2

    net_test(body)


def test_status_is_sent_periodically_and_tracked_per_peer() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0, status_interval_s=0.05)
        b = await net.node(peers=(a,), pex_interval_s=0, status_interval_s=0)
        await wait_until(lambda: handler_of(b).of_kind(Status) != [], "a Status from A")
        assert handler_of(b).of_kind(Status)[0] == Status(height=HEAD[0], head_hash=HEAD[1])
        assert b.send(a.node_id, Status(height=99, head_hash=bytes(32)))
        await wait_until(
            lambda: any(p.height == 99 for p in a.peers), "A records B's latest height"
        )

    net_test(body)


def test_only_gossip_and_status_can_be_sent_directly() -> None:
    async def body(net: Net) -> None:
        a = await net.node()
        with pytest.raises(ValueError, match="request"):
            a.broadcast(GetBlocks(start=1, end=2))
        with pytest.raises(ValueError, match="max_msg_bytes"):
            a.broadcast(NewBlock(b"x" * (a.config.max_msg_bytes + 1)))
        assert not a.send(b"\x01" * 32, Status(height=1, head_hash=bytes(32)))

    net_test(body)


def test_max_peers_caps_the_connections() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0, max_peers=1)
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "first peer")
        c = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: a.metrics.refused["too_many_peers"] >= 1, "second refused")
        assert a.peer_ids == [b.node_id] and c.peers == []

    net_test(body)


def test_a_node_listed_among_its_own_static_peers_does_not_connect_to_itself() -> None:
    async def body(net: Net) -> None:
        port = free_port()
        a = await net.node(port=port, static_peers=(f"localhost:{port}", f"127.0.0.1:{port}"))
        await wait_until(lambda: a.metrics.refused["self_connection"] >= 1, "self refused")
        assert a.peers == []
        assert a.metrics.penalties == {}

    net_test(body)


def test_a_slow_handler_sheds_load_without_forgetting_what_it_shed() -> None:
    async def body(net: Net) -> None:
        slow = GossipHandler(relay=False)
        slow.gossip_gate = asyncio.Event()
        a = await net.node(pex_interval_s=0, max_inbox=1, handler=slow)
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "link")
        blocks = [NewBlock(bytes([i]) * 10) for i in range(3)]
        b.broadcast(blocks[0])
        await wait_until(lambda: slow.of_kind(NewBlock) == blocks[:1], "handler stalled on one")
        b.broadcast(blocks[1])
        b.broadcast(blocks[2])
        # the first is in the handler (stalled), the second waits, the third is shed
        await wait_until(lambda: a.metrics.dropped["inbox_full"] == 1, "third block shed")
        slow.gossip_gate.set()
        await wait_until(lambda: len(slow.of_kind(NewBlock)) == 2, "two handled")
        b.broadcast(blocks[2], dedup=False)  # sent again, it is not taken for a duplicate
        await wait_until(lambda: slow.of_kind(NewBlock) == blocks, "third handled")

    net_test(body)
