"""What a peer claims about addresses costs nobody else anything.

A Hello's listen address and a ``peers`` answer are claims: an attacker
with a fresh key can name an honest node's address in either. Bans attach
to what the offender proved (its node key) and to where it really was (the
address we dialled, a non-loopback IP); a claimed address is dialled to be
checked and handed on in ``peers`` answers only once the node behind it
proved its key there.
"""

from __future__ import annotations

import asyncio
import os

from p2pkit import Net, RawPeer, connected, free_port, net_test, wait_until

from node.p2p.connection import CLOSE_PENALISED
from node.p2p.messages import GetPeers, Peers, decode_frame, encode_frame
from node.p2p.transport import Transport


async def answer_get_peers(peer: RawPeer, entries: tuple[tuple[bytes, str, int], ...]) -> None:
    """Read frames until the target asks for peers; answer with ``entries``."""
    async with asyncio.timeout(10):
        while True:
            frame = decode_frame(await peer.receive_frame())
            if isinstance(frame.msg, GetPeers):
                assert peer.ws is not None
                await peer.ws.send_bytes(encode_frame(Peers(entries), frame.request_id))
                return


async def ask_peers(peer: RawPeer) -> Peers:
    """Ask the target for its peers and return its answer."""
    assert peer.ws is not None
    await peer.ws.send_bytes(encode_frame(GetPeers(), 77))
    async with asyncio.timeout(10):
        while True:
            frame = decode_frame(await peer.receive_frame())
            if isinstance(frame.msg, Peers) and frame.request_id == 77:
                return frame.msg


async def cut_and_restore(b: Transport, a: Transport) -> None:
    """B drops its link to A and lifts the cut: the two must meet again."""
    b.block_peers([a.node_id])
    await wait_until(lambda: not connected(a, b), "B cut the link")
    b.unblock_peers([a.node_id])


def test_an_attacker_claiming_an_honest_listen_address_gets_only_itself_banned() -> None:
    async def body(net: Net) -> None:
        port_b = free_port()
        a = await net.node(static_peers=(f"127.0.0.1:{port_b}",), pex_interval_s=0)
        b = await net.node(port=port_b, peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "honest link")
        attacker = RawPeer(a)
        try:
            await attacker.connect(listen_port=port_b)  # "I listen where B listens"
            assert attacker.ws is not None
            await attacker.ws.send_bytes(b"\xc1")  # one undecodable byte
            code, reason = await attacker.close_reason()
        finally:
            await attacker.close()
        assert code == CLOSE_PENALISED and reason.startswith("malformed:")
        banned = a.metrics_snapshot()["banned"]
        assert banned["node_ids"] == [attacker.node_id.hex()]
        assert banned["addresses"] == []  # the claimed address is nobody's to ban
        # B reconnects, by dialling A and by being dialled
        await cut_and_restore(b, a)
        await wait_until(lambda: connected(a, b), "B welcome again")
        assert a.metrics.refused["banned"] == 0

    net_test(body)


def test_a_poisoned_peers_answer_does_not_stop_a_node_dialling_a_static_peer() -> None:
    async def body(net: Net) -> None:
        port_b = free_port()
        seed_b = os.urandom(32)
        a = await net.node(static_peers=(f"127.0.0.1:{port_b}",), pex_interval_s=0.1)
        b = await net.node(port=port_b, seed=seed_b, pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "A dialled B")
        attacker = RawPeer(a)
        try:
            await attacker.connect()
            # "the node at B's address is me", then misbehave
            await answer_get_peers(attacker, ((attacker.node_id, "127.0.0.1", port_b),))
            # both exchanges done: B's (nothing to tell) and the attacker's
            await wait_until(lambda: a.metrics.requests["ok"] == 2, "A read the answer")
            assert attacker.ws is not None
            await attacker.ws.send_bytes(b"\xc1")
            await attacker.close_reason()
        finally:
            await attacker.close()
        assert a.metrics.bans == 1
        # B restarts knowing nobody: only A's dial can bring them together
        await b.stop()
        await wait_until(lambda: b.node_id not in a.peer_ids, "A saw B go")
        b2 = await net.node(port=port_b, seed=seed_b, static_peers=(), pex_interval_s=0)
        await wait_until(lambda: connected(a, b2), "A dials B again")

    net_test(body)


def test_peers_answers_name_only_addresses_proven_by_a_dial() -> None:
    async def body(net: Net) -> None:
        port_b = free_port()
        a = await net.node(static_peers=(f"127.0.0.1:{port_b}",), pex_interval_s=0)
        b = await net.node(port=port_b, pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "A dialled B")
        liar, asker = RawPeer(a), RawPeer(a)
        try:
            await liar.connect(listen_port=port_b)
            await wait_until(lambda: a.is_connected(liar.node_id), "liar registered")
            await asker.connect()
            answer = await ask_peers(asker)
        finally:
            await liar.close()
            await asker.close()
        assert answer.peers == ((b.node_id, "127.0.0.1", port_b),)
        # the liar is listed as a peer, with its claim marked as unproven
        info = {p.node_id: p for p in a.peers}
        assert info[b.node_id].address_verified

    net_test(body)
