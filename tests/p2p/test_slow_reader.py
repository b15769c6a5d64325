"""A peer that does not read: its requests count until their answers are
written, its outbox is bounded in bytes, and it is dropped as a slow reader
(not banned), while the node goes on with everyone else."""

from __future__ import annotations

import os
import socket

from p2pkit import GossipHandler, Net, RawPeer, connected, handler_of, net_test, wait_until

from node.p2p.messages import GetBlocks, Message, NewBlock, encode_frame
from node.p2p.transport import Transport

KIB = 1024


def shrink_buffers(a: Transport, rogue: RawPeer) -> None:
    """Small socket buffers both ends, so that "not reading" shows at once
    rather than after the kernel has taken several MiB."""
    assert rogue.ws is not None
    rogue.ws.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    theirs = a._conns[rogue.node_id].ws.get_extra_info("socket")
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


class CountingHandler(GossipHandler):
    def __init__(self) -> None:
        super().__init__()
        self.served = 0

    async def on_message(self, peer_id: bytes, msg: Message) -> Message | None:
        if isinstance(msg, GetBlocks):
            self.served += 1
        return await super().on_message(peer_id, msg)


def test_requests_count_until_their_answer_is_written_and_a_non_reader_is_dropped() -> None:
    async def body(net: Net) -> None:
        handler = CountingHandler()
        handler.chain = {h: (os.urandom(100 * KIB), b"") for h in range(1, 21)}
        a = await net.node(
            handler=handler,
            pex_interval_s=0,
            status_interval_s=0,
            max_msg_bytes=1024 * KIB,
            burst_bytes=1024 * KIB,
            max_outbox_bytes=8192 * KIB,  # room for every answer in flight
            write_timeout_s=1.0,
        )
        b = await net.node(peers=(a,), pex_interval_s=0)
        await wait_until(lambda: connected(a, b), "an honest peer")
        rogue = RawPeer(a)
        try:
            await rogue.connect()
            await wait_until(lambda: a.is_connected(rogue.node_id), "rogue in")
            shrink_buffers(a, rogue)
            assert rogue.ws is not None
            for request_id in range(1, 41):  # about 1 MiB asked each time; reads nothing
                await rogue.ws.send_bytes(encode_frame(GetBlocks(start=1, end=20), request_id))
            await wait_until(lambda: not a.is_connected(rogue.node_id), "the rogue dropped")
        finally:
            await rogue.close()
        # at most max_served_requests answers were ever being written at once
        assert handler.served <= a.config.max_served_requests + 2
        assert a.metrics.disconnects["slow_reader"] == 1
        assert a.metrics.bans == 0  # slow is not malicious: no ban
        block = NewBlock(os.urandom(40))
        assert a.broadcast(block) == 1
        await wait_until(lambda: block in handler_of(b).of_kind(NewBlock), "gossip flows on")

    net_test(body)


def test_gossip_to_a_peer_that_does_not_read_is_bounded_in_bytes() -> None:
    async def body(net: Net) -> None:
        a = await net.node(
            pex_interval_s=0,
            status_interval_s=0,
            max_msg_bytes=1024 * KIB,
            burst_bytes=1024 * KIB,
            max_outbox_bytes=2048 * KIB,
            write_timeout_s=60,
        )
        rogue = RawPeer(a)
        try:
            await rogue.connect()
            await wait_until(lambda: a.is_connected(rogue.node_id), "rogue in")
            shrink_buffers(a, rogue)
            for _ in range(40):  # 10 MiB offered, 2 MiB at most kept
                a.broadcast(NewBlock(os.urandom(256 * KIB)))
            await wait_until(lambda: not a.is_connected(rogue.node_id), "the rogue dropped")
        finally:
            await rogue.close()
        assert a.metrics.disconnects["slow_reader"] == 1
        assert a.metrics.dropped["outbox_full"] == 0  # bytes, not a frame count, bounded it

    net_test(body)
