"""Peers on another network are refused; peers that send garbage, flood, or
that the handler reports are dropped and banned; the node keeps working."""

from __future__ import annotations

import logging
import os

import msgpack
import pytest
from p2pkit import (
    Net,
    RawPeer,
    Refused,
    connected,
    handler_of,
    net_test,
    wait_until,
)

from node import crypto
from node.p2p.connection import CLOSE_PENALISED, CLOSE_REFUSED
from node.p2p.messages import PROTOCOL_VERSION, Auth, NewBlock, Status, encode_frame
from node.p2p.transport import Transport


async def assert_still_gossiping(a: Transport, b: Transport) -> None:
    """A fresh block from ``a`` still reaches ``b``."""
    block = NewBlock(os.urandom(40))
    assert a.broadcast(block) >= 1
    await wait_until(lambda: block in handler_of(b).of_kind(NewBlock), "gossip still flows")


@pytest.mark.parametrize(
    ("hello_changes", "reason"),
    [
        ({"chain_id": "another-chain"}, "chain_id_mismatch"),
        ({"genesis_hash": crypto.sha256(b"another genesis")}, "genesis_mismatch"),
        ({"protocol_version": PROTOCOL_VERSION + 1}, "protocol_version_mismatch"),
    ],
)
def test_a_peer_of_another_network_is_refused_with_a_clear_reason(
    hello_changes: dict[str, object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "good link")
        stranger = RawPeer(a)
        try:
            with caplog.at_level(logging.INFO, logger="node.p2p"), pytest.raises(Refused) as exc:
                await stranger.connect(**hello_changes)
        finally:
            await stranger.close()
        assert (exc.value.code, exc.value.reason) == (CLOSE_REFUSED, reason)
        assert a.metrics.refused[reason] == 1
        lines = [r.getMessage() for r in caplog.records if f"reason={reason}" in r.getMessage()]
        assert len(lines) == 1 and lines[0].startswith("p2p.refused ")
        assert not a.is_connected(stranger.node_id)
        await assert_still_gossiping(a, b)

    net_test(body)


def test_a_node_of_another_chain_dialling_in_is_refused_on_both_sides() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        other = await net.node(peers=(a,), chain_id="another-chain", pex_interval_s=0)
        # each side reads the other's Hello and refuses on its own
        await wait_until(lambda: a.metrics.refused["chain_id_mismatch"] >= 1, "A refuses")
        await wait_until(lambda: other.metrics.refused["chain_id_mismatch"] >= 1, "it refuses")
        assert a.peers == [] and other.peers == []

    net_test(body)


def test_a_forged_signature_is_refused_and_bans_nobody() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "good link")
        # the impostor claims to be B but cannot sign with B's key
        impostor = RawPeer(a)
        ws = await impostor.open()
        try:
            mine = impostor.hello(node_id=b.node_id)
            await ws.send_bytes(encode_frame(mine))
            await impostor.receive_frame()
            await ws.send_bytes(encode_frame(Auth(bytes(64))))
            with pytest.raises(Refused) as exc:
                await impostor.receive_frame()
        finally:
            await impostor.close()
        # refused as a duplicate (B is connected) before any signature is checked
        assert exc.value.reason == "duplicate_connection"
        assert a.metrics.bans == 0 and a.is_connected(b.node_id)

        lone = await net.node(pex_interval_s=0)
        impostor = RawPeer(lone)
        ws = await impostor.open()
        try:
            await ws.send_bytes(encode_frame(impostor.hello(node_id=b.node_id)))
            await impostor.receive_frame()  # Hello
            await ws.send_bytes(encode_frame(Auth(bytes(64))))
            await impostor.receive_frame()  # lone's own Auth
            with pytest.raises(Refused) as exc:
                await impostor.receive_frame()
        finally:
            await impostor.close()
        assert exc.value.reason == "bad_signature"
        assert lone.metrics.bans == 0  # B's id is not banned for what an impostor did

    net_test(body)


GARBAGE = {
    "not_msgpack": b"\xc1 this is not msgpack",
    "not_a_map": msgpack.packb([1, 2, 3]),
    "unknown_kind": msgpack.packb({"t": "gimme"}),
    "missing_field": msgpack.packb({"t": "status", "height": 1}),
    "bad_field": msgpack.packb({"t": "status", "height": "one", "head": bytes(32)}),
    "negative": msgpack.packb({"t": "status", "height": -1, "head": bytes(32)}),
    "bool_as_int": msgpack.packb({"t": "status", "height": True, "head": bytes(32)}),
    "extra_field": msgpack.packb({"t": "consensus", "data": b"x", "more": 1}),
    "empty_batch": msgpack.packb({"t": "txs", "txs": []}),
    "trailing": encode_frame(Status(height=1, head_hash=bytes(32))) + b"\x00",
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_a_peer_that_sends_garbage_is_dropped_and_banned(name: str) -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "good link")
        rogue = RawPeer(a)
        again = RawPeer(a, seed=rogue.seed)
        try:
            await rogue.connect()
            await rogue.ws.send_bytes(GARBAGE[name])  # type: ignore[union-attr]
            code, reason = await rogue.close_reason()
            assert code == CLOSE_PENALISED
            assert reason.startswith("malformed:")
            assert a.metrics.bans == 1
            with pytest.raises(Refused) as exc:  # the ban holds on reconnect
                await again.connect()
            assert exc.value.reason == "banned"
        finally:
            await rogue.close()
            await again.close()
        await assert_still_gossiping(a, b)
        await assert_still_gossiping(b, a)

    net_test(body)


def test_oversize_and_text_frames_cost_the_peer_its_connection() -> None:
    async def body(net: Net) -> None:
        limit = 64 * 1024
        a = await net.node(pex_interval_s=0, max_msg_bytes=limit, burst_bytes=limit)
        big, text = RawPeer(a), RawPeer(a)
        try:
            await big.connect()
            await big.ws.send_bytes(b"\x00" * (limit + 1))  # type: ignore[union-attr]
            await big.close_reason()
            await text.connect()
            await text.ws.send_str("hello?")  # type: ignore[union-attr]
            await text.close_reason()
        finally:
            await big.close()
            await text.close()
        await wait_until(lambda: a.metrics.penalties["oversize"] == 1, "oversize penalised")
        assert a.metrics.penalties["text_frame"] == 1
        await wait_until(lambda: a.peers == [], "both dropped")

    net_test(body)


def test_garbage_before_the_handshake_is_refused() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0)
        rogue = RawPeer(a)
        ws = await rogue.open()
        try:
            await ws.send_bytes(b"GET / HTTP/1.1")
            await rogue.receive_frame()  # A's Hello
            with pytest.raises(Refused) as exc:
                await rogue.receive_frame()
        finally:
            await rogue.close()
        assert exc.value.reason == "bad_handshake"
        assert a.metrics.refused["bad_handshake"] == 1

    net_test(body)


def test_a_silent_peer_is_dropped_at_the_handshake_deadline() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0, handshake_timeout_s=0.3)
        mute = RawPeer(a)
        try:
            await mute.open()
            _, reason = await mute.close_reason()
        finally:
            await mute.close()
        assert reason == "handshake_timeout"
        assert a.metrics.refused["handshake_timeout"] == 1

    net_test(body)


def test_a_flooding_peer_is_throttled_and_then_disconnected() -> None:
    async def body(net: Net) -> None:
        a = await net.node(
            pex_interval_s=0, msgs_per_s=1, burst_msgs=20, flood_strikes=200, flood_window_s=60
        )
        flood = RawPeer(a)
        try:
            await flood.connect()
            frame = encode_frame(Status(height=1, head_hash=bytes(32)))
            for _ in range(100):  # over the burst: throttled, still connected
                await flood.ws.send_bytes(frame)  # type: ignore[union-attr]
            await wait_until(lambda: a.metrics.msgs_in["status"] == 100, "all 100 read")
            throttled = a.metrics.dropped["throttled"]
            assert 1 <= throttled <= 80  # the burst of 20 (and a trickle) got through
            await wait_until(
                lambda: len(handler_of(a).of_kind(Status)) == 100 - throttled, "the rest handled"
            )
            assert a.is_connected(flood.node_id)
            for _ in range(300):  # keeps flooding: runs out of strikes
                await flood.ws.send_bytes(frame)  # type: ignore[union-attr]
            code, reason = await flood.close_reason()
        finally:
            await flood.close()
        assert (code, reason) == (CLOSE_PENALISED, "flooding")
        assert a.metrics.penalties["flooding"] == 1

    net_test(body)


def test_the_handler_reporting_invalid_data_bans_the_sender() -> None:
    async def body(net: Net) -> None:
        a = await net.node(pex_interval_s=0, status_interval_s=0)
        b = await net.node(peers=(a,), pex_interval_s=0, status_interval_s=0)
        c = await net.node(peers=(a,), pex_interval_s=0, status_interval_s=0)
        await wait_until(lambda: connected(a, b) and connected(a, c), "star")
        bad = NewBlock(b"forged block")
        handler_of(a).invalid_blocks.add(bad.block)
        b.broadcast(bad)
        await wait_until(lambda: not connected(a, b), "B dropped")
        assert a.metrics.penalties["invalid_block:bad_signature"] == 1
        await wait_until(lambda: b.metrics.refused["by_peer:banned"] >= 1, "B's redial refused")
        assert not connected(a, b)
        await assert_still_gossiping(a, c)
        # penalise() by id works for the runtime too
        a.penalise(c.node_id, "invalid_vote")
        await wait_until(lambda: not connected(a, c), "C dropped")
        banned = a.metrics_snapshot()["banned"]["node_ids"]
        assert sorted(banned) == sorted([b.node_id.hex(), c.node_id.hex()])

    net_test(body)
