"""One websocket to one peer: its outbox and writer, its inbox, its requests.

A ``Connection`` is created for every websocket, inbound or outbound,
before the handshake; once the peer is authenticated the transport fills
in ``hello`` and starts the writer. Frames are written in the order they
were queued, each held for the fault-injection delay, if any.
The transport owns the decisions (what to send, whom to drop); this module
owns the queues and closing the socket exactly once.

The outbox is bounded in frames (``max_outbox``: more are dropped) and in
bytes (``max_outbox_bytes``, the frame being written included). A peer
that does not read what it is sent is a slow reader: when the bytes would
exceed the bound, or one frame is not taken by the socket within
``write_timeout_s``, the connection is closed with ``slow_reader`` and the
TCP connection dropped at once, with whatever is buffered for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
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
CLOSE_SLOW_READER = 4005
CLOSE_GOING_AWAY = 1001

# The close reason of a peer that does not read what it is sent.
SLOW_READER = "slow_reader"
# SO_LINGER on, 0 s: closing the socket resets it, dropping what it buffers.
_LINGER_RESET = struct.pack("ii", 1, 0)


@dataclass(slots=True)
class _Queued:
    queued_s: float
    frame: bytes
    kind: str
    written: asyncio.Future[None] | None


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
        max_outbox_bytes: int,
        write_timeout_s: float,
        close_timeout_s: float,
        delay_s: Callable[[], float],
    ) -> None:
        self.ws = ws
        self.outbound = outbound
        self.remote_ip = remote_ip
        self.dial_addr = dial_addr
        self.throttle = throttle
        self.hello: Hello | None = None
        self.authenticated = False  # the peer proved the key of hello.node_id
        self.listen_addr: Address | None = None  # claimed in its Hello, not proven
        self.height = 0
        self.head_hash = b""
        self.connected_s = 0.0
        self.pending: dict[int, PendingRequest] = {}
        self.serving = 0  # the peer's requests being answered, until written
        self.tasks: set[asyncio.Task[None]] = set()
        self.close_reason: str | None = None
        self._metrics = metrics
        self._max_inbox = max_inbox
        self._max_outbox = max_outbox
        self._max_outbox_bytes = max_outbox_bytes
        self._write_timeout_s = write_timeout_s
        self._close_timeout_s = close_timeout_s
        self._delay_s = delay_s
        self._outbox: deque[_Queued] = deque()
        self._outbox_bytes = 0  # queued and being written
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

    def info(self, *, address_verified: bool) -> PeerInfo:
        assert self.hello is not None and self.listen_addr is not None
        return PeerInfo(
            node_id=self.hello.node_id,
            listen_addr=self.listen_addr,
            address_verified=address_verified,
            remote_ip=self.remote_ip,
            outbound=self.outbound,
            height=self.height,
            head_hash=self.head_hash,
            connected_s=self.connected_s,
        )

    # -- outbound ---------------------------------------------------------------

    @property
    def outbox_bytes(self) -> int:
        return self._outbox_bytes

    def enqueue(
        self, frame: bytes, kind: str, *, written: asyncio.Future[None] | None = None
    ) -> bool:
        """Queue a frame for the writer; ``written`` is set once the socket took it.

        False when the connection is closing, when the outbox is full of
        frames (the frame is dropped, counted ``outbox_full``), or when its
        bytes would pass ``max_outbox_bytes``: the peer is not reading, and
        the connection is closed as a slow reader.
        """
        if self.closing:
            return False
        if len(self._outbox) >= self._max_outbox:
            self._metrics.dropped["outbox_full"] += 1
            return False
        if self._outbox_bytes + len(frame) > self._max_outbox_bytes:
            self.begin_close(CLOSE_SLOW_READER, SLOW_READER, abort=True)
            return False
        self._outbox.append(_Queued(time.monotonic(), frame, kind, written))
        self._outbox_bytes += len(frame)
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
            item = outbox[0]
            wait_s = item.queued_s + self._delay_s() - time.monotonic()
            if wait_s > 0:
                # wake early when the delay changes (set_delay / heal)
                self._outbox_ready.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._outbox_ready.wait()
                continue
            outbox.popleft()
            try:
                # send_bytes hands the frame to the transport, then waits
                # while the transport's buffer is over its high-water mark:
                # a peer that does not read keeps it waiting.
                async with asyncio.timeout(self._write_timeout_s):
                    await self.ws.send_bytes(item.frame)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                self.begin_close(CLOSE_SLOW_READER, SLOW_READER, abort=True)
                return
            except Exception:  # the socket broke under us; the reader sees it too
                on_error("write_failed")
                return
            finally:
                self._outbox_bytes -= len(item.frame)
            self._metrics.bytes_out[item.kind] += len(item.frame)
            if item.written is not None and not item.written.done():
                item.written.set_result(None)

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

    def begin_close(self, code: int, reason: str, *, abort: bool = False) -> None:
        """Start closing (once); the first reason given is the one kept.

        ``abort`` drops the TCP connection without waiting for the peer to
        read what is buffered (it would not).
        """
        if self._close_task is not None:
            return
        if self.close_reason is None:
            self.close_reason = reason
        if abort:
            self._reset_socket()
        self._close_task = asyncio.ensure_future(self._close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close and wait until the socket is closed (or the close timed out)."""
        self.begin_close(code, reason)
        assert self._close_task is not None
        await asyncio.shield(self._close_task)

    async def _close(self, code: int, reason: str) -> None:
        try:
            # the close frame waits behind what is buffered; the close
            # handshake has its own timeout once the frame is out
            async with asyncio.timeout(2 * self._close_timeout_s):
                await self.ws.close(code=code, message=reason.encode()[:120])
        except TimeoutError:
            self._reset_socket()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # aiohttp's close gave up on a wait of its own (a dropped socket)
            self._reset_socket()
        except Exception:  # a broken socket: nothing left to do
            self._reset_socket()

    def _reset_socket(self) -> None:
        """Reset the TCP connection now: the transport sees it end and lets go
        of its buffer, instead of waiting forever to flush it."""
        sock = self.ws.get_extra_info("socket")
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            sock.shutdown(socket.SHUT_RDWR)

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
        # the writer is stopped: nothing more goes out (a frame being written
        # is uncounted by the writer itself)
        self._outbox_bytes -= sum(len(item.frame) for item in self._outbox)
        self._outbox.clear()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        return tasks
