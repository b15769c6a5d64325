"""A real node process against peers it must not accept: another chain,
another genesis, and a peer that sends garbage. It refuses or drops them
and keeps committing meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from nodekit import Cluster, NodeProcess, until

from node import crypto
from node.p2p import Message, P2PConfig, PeerInfo, Transport

DEADLINE_S = 60.0


class QuietPeer:
    """A handler that takes whatever arrives and answers nothing."""

    async def on_message(self, peer_id: bytes, msg: Message) -> Message | None:
        return None

    async def on_peer_connected(self, peer: PeerInfo) -> None:
        return None

    async def on_peer_disconnected(self, peer_id: bytes, reason: str) -> None:
        return None


async def refused_reasons(node: NodeProcess, chain_id: str, genesis_hash: bytes) -> set[str]:
    """Dial the node as a peer of another network; the refusal reasons seen."""
    transport = Transport(
        config=P2PConfig(
            port=0,
            static_peers=(f"127.0.0.1:{node.home.p2p_port}",),
            dial_interval_s=0.1,
            backoff_base_s=0.1,
            backoff_max_s=0.5,
        ),
        node_seed=crypto.generate_seed(),
        chain_id=chain_id,
        genesis_hash=genesis_hash,
        handler=QuietPeer(),
        head=lambda: (0, bytes(32)),
    )
    await transport.start()
    try:
        await until(lambda: bool(transport.metrics.refused), "a refused handshake")
        assert transport.peer_ids == []
        return set(transport.metrics.refused)
    finally:
        await transport.stop()


async def garbage_is_dropped(node: NodeProcess) -> None:
    url = f"ws://127.0.0.1:{node.home.p2p_port}/p2p"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_bytes(b"\x93\xc1 this is not a hello")
        async with asyncio.timeout(DEADLINE_S):
            msg = await ws.receive()
            while msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                msg = await ws.receive()  # its own Hello may come first
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.closed or msg.type == aiohttp.WSMsgType.CLOSE


def test_the_node_refuses_other_networks_and_drops_garbage_while_committing(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory("poa", nodes=1, accounts=0)
    cluster.start()
    node = cluster.nodes[0]
    status = node.status()
    start_height = status["height"]
    genesis_hash = bytes.fromhex(status["genesis_hash"])

    async def scenario() -> None:
        wrong_chain = await refused_reasons(node, "another-chain", genesis_hash)
        assert any("chain_id_mismatch" in r for r in wrong_chain), wrong_chain
        wrong_genesis = await refused_reasons(node, status["chain_id"], crypto.sha256(b"other"))
        assert any("genesis_mismatch" in r for r in wrong_genesis), wrong_genesis
        await garbage_is_dropped(node)

    asyncio.run(scenario())
    assert node.client.peers() == []
    # the node kept working all along, and still does
    end = time.monotonic() + DEADLINE_S
    while node.height() <= start_height + 2:
        assert time.monotonic() < end, "the node stopped committing"
        time.sleep(0.1)
    assert node.alive
    log = node.log_path.read_text()
    assert "reason=chain_id_mismatch" in log
    assert "reason=genesis_mismatch" in log
