"""Kit of the P2P tests: real transports on loopback, a real gossip
handler, and a hand-driven peer that speaks the protocol (or breaks it).

pytest-asyncio is not installed: each async test body runs under
``run_async``, which also checks that no task is left once it returns.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from node import crypto
from node.errors import StoreError
from node.p2p import handshake as hs
from node.p2p.config import P2PConfig
from node.p2p.handler import PeerInfo
from node.p2p.messages import (
    CHALLENGE_SIZE,
    PROTOCOL_VERSION,
    Auth,
    Blocks,
    GetBlocks,
    Hello,
    Message,
    NewBlock,
    Txs,
    decode_frame,
    encode_frame,
)
from node.p2p.transport import Transport

CHAIN_ID = "p2p-test"
GENESIS = crypto.sha256(b"p2p-test genesis")
HEAD = (7, crypto.sha256(b"head 7"))

# Fast timers so that tests take fractions of a second, not the defaults.
FAST: dict[str, Any] = {
    "dial_interval_s": 0.05,
    "backoff_base_s": 0.05,
    "backoff_max_s": 0.4,
    "pex_interval_s": 0.1,
    "status_interval_s": 0.2,
    "handshake_timeout_s": 2.0,
    "close_timeout_s": 1.0,
    "request_timeout_s": 2.0,
    "heartbeat_s": 5.0,
}

DEADLINE_S = 10.0


def run_async(body: Callable[[], Coroutine[Any, Any, None]], timeout_s: float = 40.0) -> None:
    """Run one async test body; fail if it hangs or leaves a task behind."""

    async def main() -> None:
        async with asyncio.timeout(timeout_s):
            await body()
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftover == [], f"tasks left running: {leftover}"

    asyncio.run(main())


async def wait_until(
    predicate: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S
) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` at the deadline."""
    try:
        async with asyncio.timeout(deadline_s):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


class GossipHandler:
    """A small real node behind a transport: records what it gets, relays
    gossip once (the way the runtime will), serves blocks from a dict.

    ``chain`` maps height -> (block bytes, commit bytes); a request beyond
    the chain's end gets the part it has, and one starting beyond it is
    refused with a StoreError.
    """

    def __init__(self, *, relay: bool = True) -> None:
        self.transport: Transport | None = None
        self.relay = relay
        self.received: list[tuple[bytes, Message]] = []
        self.connected: list[bytes] = []
        self.disconnected: list[tuple[bytes, str]] = []
        self.chain: dict[int, tuple[bytes, bytes]] = {}
        self.invalid_blocks: set[bytes] = set()
        self.serve_gate: asyncio.Event | None = None  # holds GetBlocks answers
        self.gossip_gate: asyncio.Event | None = None  # holds the handler after recording

    def of_kind(self, kind: type[Message]) -> list[Message]:
        return [m for _, m in self.received if isinstance(m, kind)]

    def txs(self) -> list[bytes]:
        return [tx for m in self.of_kind(Txs) for tx in m.txs]  # type: ignore[attr-defined]

    async def on_message(self, peer_id: bytes, msg: Message) -> Message | None:
        if isinstance(msg, GetBlocks):
            if self.serve_gate is not None:
                await self.serve_gate.wait()
            if msg.start not in self.chain:
                raise StoreError(f"no block at {msg.start}", code="unknown_height")
            return Blocks(
                tuple(self.chain[h] for h in range(msg.start, msg.end + 1) if h in self.chain)
            )
        self.received.append((peer_id, msg))
        if self.gossip_gate is not None:
            await self.gossip_gate.wait()
        if isinstance(msg, NewBlock) and msg.block in self.invalid_blocks:
            from node.errors import InvalidBlock

            raise InvalidBlock("bad block", code="bad_signature")
        if self.relay and self.transport is not None:
            if isinstance(msg, Txs):
                self.transport.queue_txs(msg.txs, origin=peer_id)
            elif isinstance(msg, NewBlock):
                self.transport.broadcast(msg, exclude=peer_id)
        return None

    async def on_peer_connected(self, peer: PeerInfo) -> None:
        self.connected.append(peer.node_id)

    async def on_peer_disconnected(self, peer_id: bytes, reason: str) -> None:
        self.disconnected.append((peer_id, reason))


class Net:
    """Starts transports on loopback; ``close()`` stops every one of them."""

    def __init__(self) -> None:
        self.transports: list[Transport] = []

    async def node(
        self,
        *,
        peers: tuple[Transport, ...] = (),
        seed: bytes | None = None,
        handler: GossipHandler | None = None,
        chain_id: str = CHAIN_ID,
        genesis: bytes = GENESIS,
        port: int = 0,
        **overrides: Any,
    ) -> Transport:
        options = {**FAST, **overrides}
        options.setdefault("static_peers", tuple(f"127.0.0.1:{p.listen_port}" for p in peers))
        handler = handler if handler is not None else GossipHandler()
        transport = Transport(
            config=P2PConfig(port=port, **options),
            node_seed=seed if seed is not None else os.urandom(32),
            chain_id=chain_id,
            genesis_hash=genesis,
            handler=handler,
            head=lambda: HEAD,
        )
        handler.transport = transport
        await transport.start()
        self.transports.append(transport)
        return transport

    async def close(self) -> None:
        for transport in self.transports:
            await transport.stop()


def free_port() -> int:
    """A loopback port that was free a moment ago (for nodes that must know
    each other's port before either starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def handler_of(transport: Transport) -> GossipHandler:
    handler = transport._handler
    assert isinstance(handler, GossipHandler)
    return handler


def connected(a: Transport, b: Transport) -> bool:
    return b.node_id in a.peer_ids and a.node_id in b.peer_ids


def net_test(body: Callable[[Net], Awaitable[None]]) -> None:
    """Run ``body(net)`` and stop every transport it started, even on failure."""

    async def main() -> None:
        net = Net()
        try:
            await body(net)
        finally:
            await net.close()

    run_async(main)


class Refused(Exception):
    """The target closed the websocket: its close code and reason."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class RawPeer:
    """A peer driven by hand over a plain aiohttp websocket.

    ``connect()`` performs the real handshake with its own key (or a
    tampered one), after which a test can send any bytes it likes.
    """

    def __init__(self, target: Transport, *, seed: bytes | None = None) -> None:
        self.target = target
        self.seed, self.node_id = crypto.keypair_from_seed(seed or os.urandom(32))
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> aiohttp.ClientWebSocketResponse:
        self.session = aiohttp.ClientSession()
        url = f"http://127.0.0.1:{self.target.listen_port}{self.target.config.path}"
        self.ws = await self.session.ws_connect(url, max_msg_size=0)
        return self.ws

    def hello(self, **changes: Any) -> Hello:
        fields: dict[str, Any] = {
            "protocol_version": PROTOCOL_VERSION,
            "chain_id": CHAIN_ID,
            "genesis_hash": GENESIS,
            "node_id": self.node_id,
            "listen_host": "127.0.0.1",
            # each raw peer claims its own (unused) port: bans cover addresses too
            "listen_port": 1024 + int.from_bytes(self.node_id[:2], "big") % 60_000,
            "height": 0,
            "head_hash": bytes(32),
            "challenge": os.urandom(CHALLENGE_SIZE),
        }
        fields.update(changes)
        return Hello(**fields)

    async def connect(self, **hello_changes: Any) -> Hello:
        """Handshake; returns the target's Hello, or raises Refused."""
        ws = await self.open()
        mine = self.hello(**hello_changes)
        await ws.send_bytes(encode_frame(mine))
        theirs = decode_frame(await self.receive_frame()).msg
        assert isinstance(theirs, Hello)
        await ws.send_bytes(encode_frame(Auth(hs.sign_auth(self.seed, mine, theirs))))
        auth = decode_frame(await self.receive_frame()).msg
        assert isinstance(auth, Auth) and hs.verify_auth(auth.signature, mine, theirs)
        return theirs

    async def receive_frame(self) -> bytes:
        """The next binary frame; Refused when the target closes instead."""
        assert self.ws is not None
        msg = await self.ws.receive()
        if msg.type == aiohttp.WSMsgType.BINARY:
            data: bytes = msg.data
            return data
        raise Refused(self.ws.close_code, str(msg.extra or ""))

    async def close_reason(self) -> tuple[int | None, str]:
        """Read until the target closes; its close code and reason."""
        assert self.ws is not None
        while True:
            msg = await self.ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return self.ws.close_code, str(msg.extra or "")
            if msg.type == aiohttp.WSMsgType.ERROR:
                return self.ws.close_code, "error"

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
