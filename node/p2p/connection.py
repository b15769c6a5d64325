"""One websocket to one peer: its outbox and writer, its inbox, its requests.

A ``Connection`` is created for every websocket, inbound or outbound,
before the handshake; once the peer is authenticated the transport fills
in ``hello`` and starts the writer. Frames are written in the order they
were queued, each held for the fault-injection delay, if any.
The transport owns the decisions (what to send, whom to drop); this module
owns the queues and closing the socket exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import ClientWebSocketResponse, web

from node.p2p.handler import PeerInfo
from node.p2p.messages import Address, GetBlocks, GetPeers, Hello, Message, Response
from node.p2p.metrics import P2PMetrics
from node.p2p.ratelimit import PeerThrottle

WebSocket = web.WebSocketResponse | ClientWebSocketResponse

# Close codes (4000-4999 are for applications); the close message is the reason.
CLOSE_REFUSED = 4001
CLOSE_PENALISED = 4002
CLOSE_BLOCKED = 4003
CLOSE_DUPLICATE = 4004
CLOSE_GOING_AWAY = 1001


@dataclass(slots=True)
class PendingRequest:
    request: GetBlocks | GetPeers
    future: asyncio.Future[Response]


class Connection:
    """A websocket with the per-peer state the transport keeps."""

    def __init__(
        self,
        ws: WebSocket,
        *,
        outbound: bool,
        remote_ip: str,
        dial_addr: Address | None,
        throttle: PeerThrottle,
        metrics: P2PMetrics,
        max_inbox: int,
        max_outbox: int,
        delay_s: Callable[[], float],
    ) -> None:
        self.ws = ws
        self.outbound = outbound
        self.remote_ip = remote_ip
        self.dial_addr = dial_addr
        self.throttle = throttle
        self.hello: Hello | None = None
        self.listen_addr: Address | None = None
        self.height = 0
        self.head_hash = b""
        self.connected_s = 0.0
        self.pending: dict[int, PendingRequest] = {}
        self.serving = 0  # the peer's requests being answered now
        self.tasks: set[asyncio.Task[None]] = set()
        self.close_reason: str | None = None
        self._metrics = metrics
        self._max_inbox = max_inbox
        self._max_outbox = max_outbox
        self._delay_s = delay_s
        self._outbox: deque[tuple[float, bytes, str]] = deque()
        self._outbox_ready = asyncio.Event()
        self._inbox: deque[Message] = deque()
        self._inbox_ready = asyncio.Event()
        self._close_task: asyncio.Task[None] | None = None

    # -- identity ---------------------------------------------------------------

    @property
    def node_id(self) -> bytes:
        assert self.hello is not None, "node_id read before the handshake"
        return self.hello.node_id

    @property
    def closing(self) -> bool:
        return self.close_reason is not None

    def info(self) -> PeerInfo:
        assert self.hello is not None and self.listen_addr is not None
        return PeerInfo(
            node_id=self.hello.node_id,
            listen_addr=self.listen_addr,
            remote_ip=self.remote_ip,
            outbound=self.outbound,
            height=self.height,
            head_hash=self.head_hash,
            connected_s=self.connected_s,
        )

    # -- outbound ---------------------------------------------------------------

    def enqueue(self, frame: bytes, kind: str) -> bool:
        """Queue a frame for the writer; False (and counted) when the outbox is full."""
        if self.closing:
            return False
        if len(self._outbox) >= self._max_outbox:
            self._metrics.dropped["outbox_full"] += 1
            return False
        self._outbox.append((time.monotonic(), frame, kind))
        self._metrics.msgs_out[kind] += 1
        self._outbox_ready.set()
        return True

    async def write_loop(self, on_error: Callable[[str], None]) -> None:
        """Write queued frames in order, each held for the current delay.

        The delay is read when a frame reaches the head of the queue, so
        lowering it (heal) releases frames already held.
        """
        outbox = self._outbox
        while True:
            if not outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            queued_s, frame, kind = outbox[0]
            wait_s = queued_s + self._delay_s() - time.monotonic()
            if wait_s > 0:
                # wake early when the delay changes (set_delay / heal)
                self._outbox_ready.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._outbox_ready.wait()
                continue
            outbox.popleft()
            try:
                await self.ws.send_bytes(frame)
            except asyncio.CancelledError:
                raise
            except Exception:  # the socket broke under us; the reader sees it too
                on_error("write_failed")
                return
            self._metrics.bytes_out[kind] += len(frame)

    def wake_writer(self) -> None:
        """Make the writer re-read the delay now."""
        self._outbox_ready.set()

    # -- inbound ----------------------------------------------------------------

    @property
    def inbox_full(self) -> bool:
        return len(self._inbox) >= self._max_inbox

    def deliver(self, msg: Message) -> bool:
        """Queue a message for the handler; False (and counted) when the inbox is full."""
        if self.inbox_full:
            self._metrics.dropped["inbox_full"] += 1
            return False
        self._inbox.append(msg)
        self._inbox_ready.set()
        return True

    async def next_delivery(self) -> Message:
        while not self._inbox:
            self._inbox_ready.clear()
            await self._inbox_ready.wait()
        return self._inbox.popleft()

    # -- closing ----------------------------------------------------------------

    def begin_close(self, code: int, reason: str) -> None:
        """Start closing (once); the first reason given is the one kept."""
        if self._close_task is not None:
            return
        if self.close_reason is None:
            self.close_reason = reason
        self._close_task = asyncio.ensure_future(self._close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close and wait until the socket is closed (or the close timed out)."""
        self.begin_close(code, reason)
        assert self._close_task is not None
        await asyncio.shield(self._close_task)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode()[:120])

    def stop_tasks(self, error: Exception) -> list[asyncio.Task[None]]:
        """Cancel the writer, dispatcher and request tasks; fail our pending requests.

        The connection counts as closing from here on, so that no request is
        made on it while it is being unregistered (nothing would fail it).
        """
        if self.close_reason is None:
            self.close_reason = "stopped"
        for pending in self.pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        self.pending.clear()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        return tasks
