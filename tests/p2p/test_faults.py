"""Links that break and heal: restarts with backoff, fault injection
(block, delay, heal), and a clean stop whatever is in flight."""

from __future__ import annotations

import asyncio
import os

import pytest
from p2pkit import GossipHandler, Net, connected, free_port, handler_of, net_test, wait_until

from node.p2p.errors import PeerNotConnected, RequestTimeout
from node.p2p.messages import GetBlocks, NewBlock


def test_a_restarted_peer_is_dialled_again_with_backoff() -> None:
    async def body(net: Net) -> None:
        seed, port = os.urandom(32), free_port()
        a = await net.node(seed=seed, port=port, pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "first link")
        await a.stop()
        await wait_until(lambda: b.peers == [], "B sees A go")
        assert handler_of(b).disconnected[0][0] == a.node_id
        await wait_until(lambda: b.metrics.dial_failures >= 2, "B keeps trying, backing off")
        again = await net.node(seed=seed, port=port, pex_interval_s=0)
        await wait_until(lambda: connected(again, b), "B reconnects to the restarted A")
        assert handler_of(b).connected == [a.node_id, a.node_id]

    net_test(body)


def test_an_inbound_peer_that_restarts_is_dialled_back() -> None:
    async def body(net: Net) -> None:
        seed, port = os.urandom(32), free_port()
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), seed=seed, port=port, pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "first link")
        await b.stop()
        await wait_until(lambda: a.peers == [], "A sees B go")
        # B restarts without static peers: A dials the address B's Hello gave
        again = await net.node(seed=seed, port=port, pex_interval_s=0, static_peers=())
        await wait_until(lambda: connected(a, again), "A reconnects to B")

    net_test(body)


def test_block_peers_cuts_the_link_and_heal_restores_it() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        c = await net.node(peers=(a, b), pex_interval_s=0)
        await wait_until(lambda: all(len(t.peers) == 2 for t in (a, b, c)), "mesh")
        a.block_peers([b.node_id])
        await wait_until(lambda: not connected(a, b), "A-B cut")
        # B keeps dialling A and is refused while blocked; A-C and B-C stay up
        await wait_until(lambda: b.metrics.refused["by_peer:blocked"] >= 2, "B refused")
        assert connected(a, c) and connected(b, c) and not connected(a, b)
        assert a.metrics_snapshot()["blocked"] == [b.node_id.hex()]
        a.heal()
        await wait_until(lambda: connected(a, b), "A-B restored")
        assert a.metrics_snapshot()["blocked"] == []

    net_test(body)


def test_a_partition_on_both_sides_and_unblock() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "link")
        a.block_peers([b.node_id])
        b.block_peers([a.node_id])
        await wait_until(lambda: a.peers == [] and b.peers == [], "partitioned")
        block = NewBlock(b"while partitioned")
        assert a.broadcast(block) == 0
        b.unblock_peers([a.node_id])
        a.unblock_peers([b.node_id])
        await wait_until(lambda: connected(a, b), "rejoined")
        assert a.broadcast(NewBlock(b"after")) == 1

    net_test(body)


def test_set_delay_holds_outgoing_messages_until_healed() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        handler_of(a).chain = {1: (b"block 1", b"")}
        await wait_until(lambda: connected(a, b), "link")
        b.set_delay(60_000)  # B's request sits in its outbox for a minute
        with pytest.raises(RequestTimeout):
            await b.request(a.node_id, GetBlocks(start=1, end=1), timeout=0.3)
        assert a.metrics.msgs_in["get_blocks"] == 0
        assert b.metrics_snapshot()["delay_ms"] == 60_000
        block = NewBlock(b"delayed block")
        b.broadcast(block)
        b.heal()  # releases what was held, in order
        await wait_until(lambda: handler_of(a).of_kind(NewBlock) == [block], "released")
        assert a.metrics.msgs_in["get_blocks"] == 1
        reply = await b.request(a.node_id, GetBlocks(start=1, end=1), timeout=5)
        assert reply.blocks == ((b"block 1", b""),)
        with pytest.raises(ValueError):
            b.set_delay(-1)

    net_test(body)


def test_stop_ends_every_task_whatever_is_in_flight() -> None:
    async def body(net: Net) -> None:
        unreachable = f"127.0.0.1:{free_port()}"  # nobody listens: dials keep failing
        a = await net.node(static_peers=(unreachable,), tx_batch_interval_ms=60_000)
        serving = GossipHandler()
        serving.chain = {1: (b"block 1", b"")}
        serving.serve_gate = asyncio.Event()  # B never answers
        b = await net.node(peers=(a,), handler=serving)
        await wait_until(lambda: connected(a, b), "link")
        await wait_until(lambda: a.metrics.dial_failures >= 1, "a dial backing off")
        assert a.queue_txs([b"a tx waiting for its batch"]) == 1  # flush timer pending
        request = asyncio.create_task(a.request(b.node_id, GetBlocks(start=1, end=1), 30))
        await wait_until(lambda: b.metrics.msgs_in["get_blocks"] == 1, "request being served")
        await a.stop()
        await a.stop()  # a second stop is a no-op
        with pytest.raises(PeerNotConnected):
            await request
        await wait_until(lambda: b.peers == [], "B sees A go")
        # net_test stops B; run_async then fails if any task is left

    net_test(body)
