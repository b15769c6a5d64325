"""The P2P transport: authenticated websockets between nodes, gossip, requests.

``Transport`` listens on its own port (an aiohttp application with one
websocket route), dials static and learned peers with backoff, runs the
handshake of handshake.py on every connection, and then moves the typed
messages of messages.py between peers: gossip (with a seen cache and tx
batching), point-to-point sends, and request/response with ids and
deadlines. Received messages go to a ``Handler``; the transport never
interprets payloads. It enforces the envelope rules, sizes and rates, and
bans peers that break them (or that the handler reports).

What a peer says about addresses is a claim. Bans attach to what the
offender proved (its node key, after Auth) and to where it really was (the
address this node dialled, a non-loopback IP). A listen address named in a
Hello or a ``peers`` answer becomes a candidate to dial; it is given to
others in ``peers`` answers only once a dial there authenticated the node.

Everything it starts (background loops, per-connection writers and
dispatchers, dials) is a task it owns; ``stop()`` ends all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterable, Sequence
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from node import crypto
from node.codec import check_name
from node.errors import DecodeError, OrdinetError
from node.httpserve import HttpLimits, HttpServer
from node.p2p import handshake as hs
from node.p2p.config import P2PConfig
from node.p2p.connection import (
    CLOSE_BLOCKED,
    CLOSE_DUPLICATE,
    CLOSE_GOING_AWAY,
    CLOSE_PENALISED,
    CLOSE_REFUSED,
    Connection,
    PendingRequest,
    WebSocket,
)
from node.p2p.errors import P2PError, PeerNotConnected, RequestRefused, RequestTimeout
from node.p2p.gossip import Gossip, encode_sendable
from node.p2p.handler import Handler, PeerInfo
from node.p2p.messages import (
    CHALLENGE_SIZE,
    MAX_PEERS_PER_MESSAGE,
    MAX_REQUEST_ID,
    PROTOCOL_VERSION,
    Address,
    Auth,
    Blocks,
    Consensus,
    ErrorReply,
    GetBlocks,
    GetPeers,
    Hello,
    Message,
    NewBlock,
    Peers,
    Response,
    Status,
    Txs,
    answers,
    check_message,
    decode_frame,
    encode_frame,
    fit_blocks,
)
from node.p2p.metrics import P2PMetrics
from node.p2p.peerbook import PeerBook, format_address
from node.p2p.ratelimit import PeerThrottle
from node.types import HASH_SIZE

log = logging.getLogger("node.p2p")

_UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0", "::"})
# Inbound connections that may be open beside max_peers (in their handshake).
_MAX_HANDSHAKING = 64


def _short(node_id: bytes | None) -> str:
    return node_id.hex()[:16] if node_id else "?"


def _listen_claim(conn: Connection) -> tuple[str, int]:
    """Where the peer said it listens, as it said it (one process says one thing)."""
    assert conn.hello is not None
    return conn.hello.listen_host, conn.hello.listen_port


def _event(level: int, event: str, **fields: Any) -> None:
    """One structured log line: ``p2p.EVENT key=value ...``."""
    if log.isEnabledFor(level):
        log.log(level, "p2p.%s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()))


class _Refusal(Exception):
    """The handshake ends: ``reason`` is a code of handshake.py."""

    def __init__(self, reason: str, *, by_peer: bool = False, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.by_peer = by_peer
        self.detail = detail


class Transport:
    """Moves typed messages between authenticated peers (docs/P2P.md)."""

    def __init__(
        self,
        *,
        config: P2PConfig,
        node_seed: bytes,
        chain_id: str,
        genesis_hash: bytes,
        handler: Handler,
        head: Callable[[], tuple[int, bytes]],
        rng: random.Random | None = None,
    ) -> None:
        check_name(chain_id, "chain_id")
        if not isinstance(genesis_hash, bytes) or len(genesis_hash) != HASH_SIZE:
            raise ValueError("genesis_hash must be 32 bytes")
        self.config = config
        self._seed, self._node_id = crypto.keypair_from_seed(node_seed)
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash
        self._handler = handler
        self._head = head
        self._rng = rng if rng is not None else random.Random()
        self.metrics = P2PMetrics()
        self._book = PeerBook(
            static=config.static_addresses(),
            max_known=config.max_known_addresses,
            backoff_base_s=config.backoff_base_s,
            backoff_max_s=config.backoff_max_s,
            max_failures=config.max_dial_failures,
            rng=self._rng,
        )
        self._conns: dict[bytes, Connection] = {}
        self._gossip = Gossip(config=config, metrics=self.metrics, connections=self._conns)
        self._handshaking: set[Connection] = set()
        self._announced: set[bytes] = set()
        self._dialing: set[Address] = set()
        self._self_addrs: set[Address] = set()
        self._key_clashes: set[Address] = set()  # said once: another process has our peer's key
        self._blocked: set[bytes] = set()
        self._delay_s = 0.0
        self._next_request_id = 1
        self._tasks: set[asyncio.Task[Any]] = set()  # ours, and inbound handlers
        self._wake_dialer: asyncio.Event | None = None
        self._http: HttpServer | None = None
        self._session: aiohttp.ClientSession | None = None
        self._listen_port = 0
        self._started = False
        self._stopping = False

    # -- properties -------------------------------------------------------------

    @property
    def node_id(self) -> bytes:
        return self._node_id

    @property
    def listen_port(self) -> int:
        return self._listen_port

    @property
    def listener(self) -> HttpServer | None:
        """The HTTP server of the listening port (None before ``start``)."""
        return self._http

    @property
    def listen_address(self) -> Address:
        """What peers are told to dial (advertise_host or host, and the bound port)."""
        return (self.config.advertise_host or self.config.host, self._listen_port)

    @property
    def peers(self) -> list[PeerInfo]:
        return [self._info(conn) for conn in self._conns.values()]

    def _info(self, conn: Connection) -> PeerInfo:
        assert conn.listen_addr is not None
        entry = self._book.get(conn.listen_addr)
        return conn.info(address_verified=entry is not None and entry.node_id == conn.node_id)

    @property
    def peer_ids(self) -> list[bytes]:
        return list(self._conns)

    def is_connected(self, peer_id: bytes) -> bool:
        return peer_id in self._conns

    def known_addresses(self) -> list[Address]:
        return [entry.addr for entry in self._book.entries()]

    def metrics_snapshot(self) -> dict[str, Any]:
        """Counters plus gauges, JSON-ready, for /metrics and /status."""
        out = self.metrics.snapshot()
        out["peers"] = len(self._conns)
        out["known_addresses"] = len(self._book)
        out["banned"] = self._book.bans(time.monotonic())
        out["blocked"] = [b.hex() for b in self._blocked]
        out["delay_ms"] = self._delay_s * 1000
        return out

    # -- lifecycle --------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The listening side: one websocket route; the loops in a cleanup context."""
        app = web.Application()
        app[TRANSPORT_KEY] = self
        app.router.add_get(self.config.path, _accept)
        app.cleanup_ctx.append(self._background_loops)
        return app

    async def start(self) -> None:
        """Bind the port, start listening and the dial, status and PEX loops."""
        if self._started:
            raise RuntimeError("transport already started")
        sock = _bind(self.config.host, self.config.port)  # OSError if the port is taken
        self._wake_dialer = asyncio.Event()
        self._listen_port = sock.getsockname()[1]
        self._session = aiohttp.ClientSession()
        # Before its handshake (handshake_timeout_s), a connection is HTTP: its
        # upgrade request gets as long, and at most _MAX_HANDSHAKING of them
        # can be open beside the peers.
        timeout_s = self.config.handshake_timeout_s
        limits = HttpLimits(
            head_timeout_s=timeout_s,
            body_timeout_s=timeout_s,
            idle_timeout_s=timeout_s,
            max_connections=self.config.max_peers + _MAX_HANDSHAKING,
        )
        self._http = HttpServer(
            self.make_app(),
            limits,
            name="p2p",
            sock=sock,
            shutdown_timeout_s=self.config.close_timeout_s,
        )
        try:
            await self._http.start()
        except BaseException:
            sock.close()
            await self._session.close()
            raise
        self._started = True
        _event(
            logging.INFO,
            "listening",
            node=_short(self._node_id),
            addr=format_address(self.listen_address),
            chain=self.chain_id,
        )

    async def stop(self) -> None:
        """Close every connection and end every task the transport started."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        self._gossip.close()
        conns = [*self._conns.values(), *self._handshaking]
        for conn in conns:
            conn.begin_close(CLOSE_GOING_AWAY, hs.SHUTTING_DOWN)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.close_timeout_s + 1):
                await asyncio.gather(
                    *(c.close(CLOSE_GOING_AWAY, hs.SHUTTING_DOWN) for c in conns),
                    return_exceptions=True,
                )
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert self._http is not None and self._session is not None
        await self._http.stop()
        await self._session.close()
        _event(logging.INFO, "stopped", node=_short(self._node_id))

    async def _background_loops(self, app: web.Application) -> AsyncIterator[None]:
        loops = [
            asyncio.create_task(self._dial_loop(), name="p2p-dial"),
            asyncio.create_task(self._status_loop(), name="p2p-status"),
            asyncio.create_task(self._pex_loop(), name="p2p-pex"),
        ]
        yield
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- sending ----------------------------------------------------------------

    def send(self, peer_id: bytes, msg: Message) -> bool:
        """Queue ``msg`` for one peer; False when not connected or its outbox is full.

        Only Txs, NewBlock, Consensus and Status may be sent this way (requests
        go through ``request``); a message over ``max_msg_bytes`` is a ValueError.
        """
        frame = encode_sendable(msg, self.config.max_msg_bytes)
        conn = self._conns.get(peer_id)
        if conn is None:
            return False
        return conn.enqueue(frame, msg.KIND)

    def broadcast(
        self,
        msg: Message,
        *,
        exclude: bytes | Collection[bytes] | None = None,
        key: bytes | None = None,
        dedup: bool = True,
    ) -> int:
        """Queue ``msg`` for every peer but ``exclude``; returns how many peers.

        Gossip (Txs, NewBlock, Consensus) is de-duplicated: an item already
        broadcast is not sent again. The item's key is ``key`` if given (a
        block hash, say), else the SHA-256 of the payload; a Txs batch is
        filtered tx by tx (the key of a tx is its id, SHA-256 of its
        encoding). ``dedup=False`` sends regardless.
        """
        if exclude is None:
            excluded: Collection[bytes] = ()
        else:
            excluded = (exclude,) if isinstance(exclude, bytes) else exclude
        return self._gossip.broadcast(msg, exclude=excluded, key=key, dedup=dedup)

    def queue_txs(self, encodings: Sequence[bytes], *, origin: bytes | None = None) -> int:
        """Queue txs for gossip in batches; returns how many were new.

        Batches are flushed every ``tx_batch_interval_ms`` or as soon as one
        is full (``tx_batch_max_txs`` / ``tx_batch_max_bytes``). ``origin``
        (the peer a tx came from) does not get it back. Txs already queued
        or broadcast are skipped; with no peer connected nothing is queued
        (and nothing is marked as sent).
        """
        return self._gossip.queue_txs(encodings, origin)

    # -- requests ---------------------------------------------------------------

    async def request(
        self, peer_id: bytes, msg: GetBlocks | GetPeers, timeout: float | None = None
    ) -> Blocks | Peers:
        """Ask one peer; the answer, or PeerNotConnected / RequestTimeout / RequestRefused."""
        if not isinstance(msg, GetBlocks | GetPeers):
            raise ValueError(f"{msg.KIND} is not a request")
        conn = self._conns.get(peer_id)
        if conn is None or conn.closing:
            raise PeerNotConnected(f"peer {_short(peer_id)} is not connected")
        if len(conn.pending) >= self.config.max_pending_requests:
            self.metrics.requests["too_many"] += 1
            raise P2PError(f"too many requests in flight to {_short(peer_id)}", code="too_many")
        request_id = self._next_request_id
        self._next_request_id = request_id + 1 if request_id < MAX_REQUEST_ID else 1
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        conn.pending[request_id] = PendingRequest(msg, future)
        try:
            if not conn.enqueue(encode_frame(msg, request_id), msg.KIND):
                raise P2PError(f"outbox to {_short(peer_id)} is full", code="outbox_full")
            wait_s = self.config.request_timeout_s if timeout is None else timeout
            try:
                async with asyncio.timeout(wait_s):
                    reply = await future
            except TimeoutError:
                self.metrics.requests["timeout"] += 1
                raise RequestTimeout(
                    f"{msg.KIND} to {_short(peer_id)}: no answer in {wait_s} s"
                ) from None
        finally:
            conn.pending.pop(request_id, None)
        if isinstance(reply, ErrorReply):
            self.metrics.requests["refused"] += 1
            raise RequestRefused(f"{msg.KIND} refused by {_short(peer_id)}", reason=reply.code)
        self.metrics.requests["ok"] += 1
        assert isinstance(reply, Blocks | Peers)
        return reply

    def _on_response(self, conn: Connection, request_id: int | None, reply: Response) -> None:
        pending = conn.pending.pop(request_id, None) if request_id is not None else None
        if pending is None:
            # Late (we gave up waiting) or never asked: harmless, but not free.
            self.metrics.dropped["unknown_response"] += 1
            return
        if not answers(pending.request, reply):
            self._penalise_conn(conn, "bad_response")
            return
        if not pending.future.done():
            pending.future.set_result(reply)

    async def _serve_request(self, conn: Connection, request_id: int, msg: GetBlocks) -> None:
        """Answer one GetBlocks; it counts against ``max_served_requests`` from
        the moment it is read (``_on_frame``) until the answer has been written
        to the socket, not merely queued."""
        try:
            if conn.closing:  # dropped meanwhile (a slow reader, say): no work for it
                return
            try:
                reply: Message | None = await self._handler.on_message(conn.node_id, msg)
            except OrdinetError as exc:
                reply = ErrorReply(exc.code[:64] or "error")
            except Exception:
                log.exception("p2p.handler_error kind=%s peer=%s", msg.KIND, _short(conn.node_id))
                reply = ErrorReply("internal_error")
            if reply is None:
                reply = ErrorReply("unavailable")
            elif not isinstance(reply, Blocks | ErrorReply):
                log.error("p2p.handler_error kind=%s answered with %s", msg.KIND, reply.KIND)
                reply = ErrorReply("internal_error")
            if isinstance(reply, Blocks):
                reply = fit_blocks(reply, msg, self.config.max_msg_bytes)
            try:  # never send what the peer must refuse (and ban us for)
                check_message(reply)
            except DecodeError as exc:
                log.error("p2p.handler_error kind=%s bad answer: %s", msg.KIND, exc)
                reply = ErrorReply("internal_error")
            frame = encode_frame(reply, request_id)
            written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if conn.enqueue(frame, reply.KIND, written=written):
                await written  # the connection's end cancels this task
        finally:
            conn.serving -= 1

    def _answer_get_peers(self, conn: Connection, request_id: int) -> None:
        """Connected peers at the addresses where our own dial found them."""
        entries = [
            (entry.node_id, *entry.addr)
            for entry in self._book.entries()
            if entry.node_id is not None
            and entry.node_id in self._conns
            and entry.node_id != conn.node_id
        ]
        self._rng.shuffle(entries)
        reply = Peers(tuple(entries[:MAX_PEERS_PER_MESSAGE]))
        conn.enqueue(encode_frame(reply, request_id), Peers.KIND)

    # -- misbehaviour and fault injection ---------------------------------------

    def penalise(self, peer_id: bytes, reason: str) -> None:
        """The peer sent invalid data: disconnect it and ban it for ``ban_s``."""
        conn = self._conns.get(peer_id)
        if conn is not None:
            self._penalise_conn(conn, reason)
            return
        self._book.ban(time.monotonic() + self.config.ban_s, node_id=peer_id)
        self.metrics.penalties[reason] += 1
        self.metrics.bans += 1
        _event(logging.WARNING, "penalised", peer=_short(peer_id), reason=reason, connected=False)

    def _penalise_conn(self, conn: Connection, reason: str) -> None:
        if conn.closing:
            return
        # only what the peer proved (its key: penalties follow the handshake)
        # and where it really is; never the listen address it claims
        node_id = conn.hello.node_id if conn.authenticated and conn.hello is not None else None
        self._book.ban(
            time.monotonic() + self.config.ban_s,
            node_id=node_id,
            addr=conn.dial_addr,
            ip=conn.remote_ip,
        )
        self.metrics.penalties[reason] += 1
        self.metrics.bans += 1
        _event(
            logging.WARNING,
            "penalised",
            peer=_short(node_id),
            ip=conn.remote_ip,
            reason=reason,
            ban_s=self.config.ban_s,
        )
        conn.begin_close(CLOSE_PENALISED, reason)

    def unban_all(self) -> None:
        self._book.unban_all()

    def block_peers(self, node_ids: Iterable[bytes]) -> None:
        """Cut the links to these nodes and refuse them until unblocked (testnets)."""
        for node_id in node_ids:
            self._blocked.add(node_id)
            conn = self._conns.get(node_id)
            if conn is not None:
                conn.begin_close(CLOSE_BLOCKED, hs.BLOCKED)
        _event(logging.INFO, "blocked", peers=",".join(_short(b) for b in self._blocked))

    def unblock_peers(self, node_ids: Iterable[bytes]) -> None:
        for node_id in node_ids:
            self._blocked.discard(node_id)
        self._redial_now()

    def heal(self) -> None:
        """Undo every fault: no blocked peer, no delay; dial everyone again now."""
        self._blocked.clear()
        self.set_delay(0)
        self._redial_now()
        _event(logging.INFO, "healed")

    def set_delay(self, ms: float) -> None:
        """Hold every outgoing message for ``ms`` milliseconds (0 to stop)."""
        if ms < 0:
            raise ValueError("delay must be non-negative")
        self._delay_s = ms / 1000
        for conn in self._conns.values():
            conn.wake_writer()

    def _redial_now(self) -> None:
        self._book.reset_backoff(time.monotonic())
        if self._wake_dialer is not None:
            self._wake_dialer.set()

    # -- connections ------------------------------------------------------------

    async def accept(self, request: web.Request) -> web.WebSocketResponse:
        """The aiohttp handler of the P2P route: one inbound connection."""
        ws = web.WebSocketResponse(
            max_msg_size=self.config.max_msg_bytes,
            heartbeat=self.config.heartbeat_s or None,
            compress=False,
            timeout=self.config.close_timeout_s,
        )
        try:
            await ws.prepare(request)
        except ConnectionError:  # the dialer gave up before our answer: nothing to do
            return ws
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._run_connection(ws, outbound=False, remote_ip=request.remote or "?")
        finally:
            if task is not None:
                self._tasks.discard(task)
        return ws

    async def _dial(self, addr: Address) -> None:
        assert self._session is not None
        host, port = addr
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}{self.config.path}"
        self.metrics.dials += 1
        try:
            try:
                async with asyncio.timeout(self.config.handshake_timeout_s):
                    ws = await self._session.ws_connect(
                        url,
                        max_msg_size=self.config.max_msg_bytes,
                        heartbeat=self.config.heartbeat_s or None,
                        compress=0,
                        timeout=aiohttp.ClientWSTimeout(ws_close=self.config.close_timeout_s),
                    )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.metrics.dial_failures += 1
                self._book.dial_failed(addr, time.monotonic())
                _event(logging.DEBUG, "dial_failed", addr=format_address(addr), error=type(exc))
                return
            try:
                await self._run_connection(ws, outbound=True, remote_ip=host, dial_addr=addr)
            finally:
                await ws.close()
        finally:
            self._dialing.discard(addr)
            if self._wake_dialer is not None:
                self._wake_dialer.set()

    async def _run_connection(
        self,
        ws: WebSocket,
        *,
        outbound: bool,
        remote_ip: str,
        dial_addr: Address | None = None,
    ) -> None:
        conn = Connection(
            ws,
            outbound=outbound,
            remote_ip=remote_ip,
            dial_addr=dial_addr,
            throttle=self._new_throttle(),
            metrics=self.metrics,
            max_inbox=self.config.max_inbox,
            max_outbox=self.config.max_outbox,
            max_outbox_bytes=self.config.max_outbox_bytes,
            write_timeout_s=self.config.write_timeout_s,
            close_timeout_s=self.config.close_timeout_s,
            delay_s=lambda: self._delay_s,
        )
        self._handshaking.add(conn)
        try:
            try:
                async with asyncio.timeout(self.config.handshake_timeout_s):
                    await self._handshake(conn)
                self._register(conn)
            except TimeoutError:
                await self._refuse(conn, _Refusal(hs.HANDSHAKE_TIMEOUT))
                return
            except _Refusal as refusal:
                await self._refuse(conn, refusal)
                return
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                # the socket died mid-handshake (peer gone, or closing under us)
                await self._refuse(conn, _Refusal(hs.CONNECTION_LOST, detail=type(exc).__name__))
                return
        finally:
            self._handshaking.discard(conn)
            if dial_addr is not None:
                self._dialing.discard(dial_addr)  # connected or failed: no longer dialling
        reason = "closed"
        try:
            reason = await self._read_loop(conn)
        finally:
            await self._unregister(conn, reason)

    def _new_throttle(self) -> PeerThrottle:
        cfg = self.config
        return PeerThrottle(
            msgs_per_s=cfg.msgs_per_s,
            burst_msgs=cfg.burst_msgs,
            bytes_per_s=cfg.bytes_per_s,
            burst_bytes=cfg.burst_bytes,
            flood_strikes=cfg.flood_strikes,
            flood_window_s=cfg.flood_window_s,
            now_s=time.monotonic(),
        )

    # -- handshake --------------------------------------------------------------

    async def _handshake(self, conn: Connection) -> None:
        """Hello both ways, checks, Auth both ways; fills ``conn.hello`` or raises _Refusal."""
        now_s = time.monotonic()
        if self._stopping:
            raise _Refusal(hs.SHUTTING_DOWN)
        if self._book.is_banned(now_s, ip=conn.remote_ip, addr=conn.dial_addr):
            raise _Refusal(hs.BANNED)
        height, head_hash = self._head()
        host, port = self.listen_address
        mine = Hello(
            protocol_version=PROTOCOL_VERSION,
            chain_id=self.chain_id,
            genesis_hash=self.genesis_hash,
            node_id=self._node_id,
            listen_host=host,
            listen_port=port,
            height=height,
            head_hash=head_hash,
            challenge=secrets.token_bytes(CHALLENGE_SIZE),
        )
        await conn.ws.send_bytes(encode_frame(mine))
        theirs = await self._receive_handshake(conn, Hello)
        assert isinstance(theirs, Hello)
        conn.hello = theirs
        conn.height, conn.head_hash = theirs.height, theirs.head_hash
        listen_host = theirs.listen_host
        if listen_host in _UNSPECIFIED_HOSTS:
            listen_host = conn.remote_ip
        conn.listen_addr = (listen_host, theirs.listen_port)
        reason = hs.check_hello(
            theirs, chain_id=self.chain_id, genesis_hash=self.genesis_hash, node_id=self._node_id
        ) or self._admission_refusal(conn, now_s)
        if reason is not None:
            raise _Refusal(reason)
        await conn.ws.send_bytes(encode_frame(Auth(hs.sign_auth(self._seed, mine, theirs))))
        auth = await self._receive_handshake(conn, Auth)
        assert isinstance(auth, Auth)
        if not hs.verify_auth(auth.signature, mine, theirs):
            raise _Refusal(hs.BAD_SIGNATURE)
        conn.authenticated = True

    def _admission_refusal(self, conn: Connection, now_s: float) -> str | None:
        """Why this peer may not connect now, or None.

        Checked on its Hello (before it proved its node id: refusing a
        claimed id harms only the claimant) and again once authenticated.
        """
        node_id = conn.node_id
        if self._stopping:
            return hs.SHUTTING_DOWN
        if node_id in self._blocked:
            return hs.BLOCKED
        if self._book.is_banned(now_s, node_id=node_id):
            return hs.BANNED
        existing = self._conns.get(node_id)
        if existing is not None:
            # a second link with another listen address is another process
            # with the same key, not the same node dialling both ways: keep
            # the link we have rather than swap one for the other forever
            if _listen_claim(existing) != _listen_claim(conn) or not hs.keeps_new_connection(
                my_id=self._node_id,
                peer_id=node_id,
                new_outbound=conn.outbound,
                old_outbound=existing.outbound,
            ):
                return hs.DUPLICATE
        elif len(self._conns) >= self.config.max_peers and not self._is_static_dial(conn):
            return hs.TOO_MANY_PEERS
        return None

    def _is_static_dial(self, conn: Connection) -> bool:
        if conn.dial_addr is None:
            return False
        entry = self._book.get(conn.dial_addr)
        return entry is not None and entry.static

    async def _receive_handshake(self, conn: Connection, expected: type[Hello | Auth]) -> Message:
        msg = await conn.ws.receive()
        if msg.type == WSMsgType.BINARY:
            try:
                frame = decode_frame(msg.data)
            except DecodeError as exc:
                raise _Refusal(hs.BAD_HANDSHAKE, detail=exc.code) from None
            if not isinstance(frame.msg, expected):
                raise _Refusal(hs.BAD_HANDSHAKE, detail=f"expected_{expected.KIND}")
            return frame.msg
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            reason = msg.extra if isinstance(msg.extra, str) and msg.extra else "closed"
            raise _Refusal(reason, by_peer=True, detail=f"code_{msg.data}")
        raise _Refusal(hs.BAD_HANDSHAKE, detail=msg.type.name.lower())

    async def _refuse(self, conn: Connection, refusal: _Refusal) -> None:
        """One log line naming the reason, the metric, the close, the book update."""
        reason = refusal.reason
        node_id = conn.hello.node_id if conn.hello is not None else None
        self.metrics.refused[("by_peer:" if refusal.by_peer else "") + reason] += 1
        quiet = self._stopping or reason in (hs.DUPLICATE, hs.SHUTTING_DOWN)
        level = logging.INFO if quiet else logging.WARNING
        _event(
            level,
            "refused_by_peer" if refusal.by_peer else "refused",
            peer=_short(node_id),
            direction="out" if conn.outbound else "in",
            addr=format_address(conn.dial_addr or conn.listen_addr or (conn.remote_ip, 0)),
            reason=reason,
            **({"detail": refusal.detail} if refusal.detail else {}),
        )
        await conn.close(CLOSE_REFUSED, reason)
        addr = conn.dial_addr
        if addr is None:
            return
        now_s = time.monotonic()
        if node_id is not None:
            self._book.claimed(addr, node_id)
        if reason == hs.SELF_CONNECTION:
            self._self_addrs.add(addr)
            self._book.forget(addr)
        elif reason in hs.WRONG_NETWORK and (entry := self._book.get(addr)) and not entry.static:
            self._book.forget(addr)
        elif reason == hs.DUPLICATE and not self._key_in_use(conn, addr, by_peer=refusal.by_peer):
            self._book.disconnected(addr, now_s)
        else:
            self._book.dial_failed(addr, now_s)

    def _key_in_use(self, conn: Connection, addr: Address, *, by_peer: bool) -> bool:
        """Whether a duplicate refusal of our dial of ``addr`` means that two
        processes hold one node key; if so, say so once per address (ERROR).

        By the peer: it holds a link to our node id that is not ours (we
        have none with it, not even one in its handshake). By us: the node
        at ``addr`` presents the id of a peer connected from another listen
        address.
        """
        assert conn.hello is not None
        peer_id = conn.hello.node_id
        if by_peer:
            linked = peer_id in self._conns or any(
                c is not conn and c.hello is not None and c.hello.node_id == peer_id
                for c in self._handshaking
            )
            if linked:
                return False
            clash = f"this node's id {_short(self._node_id)} is already connected to that peer"
        else:
            existing = self._conns.get(peer_id)
            if existing is None or _listen_claim(existing) == _listen_claim(conn):
                return False
            where = existing.dial_addr or existing.listen_addr or (existing.remote_ip, 0)
            clash = f"node id {_short(peer_id)} is already connected from {format_address(where)}"
        if addr not in self._key_clashes:
            self._key_clashes.add(addr)
            log.error(
                "p2p.node_key_in_use peer=%s addr=%s: %s; another process uses this node's "
                "key; give each node its own key (retrying with backoff)",
                _short(peer_id),
                format_address(addr),
                clash,
            )
        return True

    # -- registration -----------------------------------------------------------

    def _register(self, conn: Connection) -> None:
        """The peer is authenticated: make it the connection for its node id."""
        node_id = conn.node_id
        reason = self._admission_refusal(conn, time.monotonic())
        if reason is not None:
            raise _Refusal(reason)
        old = self._conns.get(node_id)
        if old is not None:
            old.begin_close(CLOSE_DUPLICATE, hs.DUPLICATE)
        self._conns[node_id] = conn
        conn.connected_s = time.monotonic()
        assert conn.listen_addr is not None
        if conn.dial_addr is not None:  # the node proved its key where we dialled
            self._book.connected(conn.dial_addr, node_id)
            self._key_clashes.discard(conn.dial_addr)
        if conn.listen_addr != self.listen_address:
            # a claim: a candidate to dial, which proves (or not) who is there
            self._book.learn(conn.listen_addr, node_id, conn.connected_s)
        self.metrics.connections += 1
        _event(
            logging.INFO,
            "connected",
            peer=_short(node_id),
            direction="out" if conn.outbound else "in",
            addr=format_address(conn.dial_addr or (conn.remote_ip, 0)),
            listen=format_address(conn.listen_addr),
            height=conn.height,
        )
        conn.tasks.add(self._spawn(conn.write_loop(self._write_failed(conn)), "p2p-writer"))
        conn.tasks.add(self._spawn(self._dispatch_loop(conn), "p2p-dispatch"))
        if self.config.pex_interval_s > 0 and len(self._conns) < self.config.max_peers:
            conn.tasks.add(self._spawn(self._exchange_peers(conn), "p2p-pex-once"))

    def _write_failed(self, conn: Connection) -> Callable[[str], None]:
        return lambda reason: conn.begin_close(CLOSE_GOING_AWAY, reason)

    async def _unregister(self, conn: Connection, reason: str) -> None:
        node_id = conn.node_id
        tasks = conn.stop_tasks(PeerNotConnected(f"peer {_short(node_id)} disconnected"))
        await asyncio.gather(*tasks, return_exceptions=True)
        await conn.close(CLOSE_GOING_AWAY, reason)
        if self._conns.get(node_id) is not conn:
            return  # replaced by a newer connection to the same node
        del self._conns[node_id]
        if conn.dial_addr is not None:
            self._book.disconnected(conn.dial_addr, time.monotonic())
        self.metrics.disconnects[reason] += 1
        _event(logging.INFO, "disconnected", peer=_short(node_id), reason=reason)
        if self._wake_dialer is not None:
            self._wake_dialer.set()
        if node_id in self._announced:
            self._announced.discard(node_id)
            try:
                await self._handler.on_peer_disconnected(node_id, reason)
            except Exception:
                log.exception("p2p.handler_error event=on_peer_disconnected")

    # -- receiving --------------------------------------------------------------

    async def _read_loop(self, conn: Connection) -> str:
        """Read frames until the connection ends; returns why it ended."""
        ws = conn.ws
        while not conn.closing:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                self._on_frame(conn, msg.data)
            elif msg.type == WSMsgType.TEXT:
                self._penalise_conn(conn, "text_frame")
            elif msg.type == WSMsgType.ERROR:
                exc = ws.exception() or msg.data
                if getattr(exc, "code", None) == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
                    self._penalise_conn(conn, "oversize")
                else:
                    return conn.close_reason or "connection_error"
            elif msg.type == WSMsgType.CLOSE:
                peer_reason = msg.extra if isinstance(msg.extra, str) and msg.extra else "closed"
                return conn.close_reason or f"closed_by_peer:{peer_reason}"
            else:  # CLOSING, CLOSED
                return conn.close_reason or "closed"
        return conn.close_reason or "closed"

    def _on_frame(self, conn: Connection, data: bytes) -> None:
        now_s = time.monotonic()
        try:
            frame = decode_frame(data)
        except DecodeError as exc:
            self.metrics.msgs_in["malformed"] += 1
            self._penalise_conn(conn, f"malformed:{exc.code}")
            return
        msg = frame.msg
        kind = msg.KIND
        self.metrics.msgs_in[kind] += 1
        self.metrics.bytes_in[kind] += len(data)
        if isinstance(msg, Blocks | Peers | ErrorReply) and frame.request_id in conn.pending:
            self._on_response(conn, frame.request_id, msg)
            return
        if not conn.throttle.admit(len(data), now_s):
            self.metrics.dropped["throttled"] += 1
            if conn.throttle.flooding:
                self._penalise_conn(conn, "flooding")
            return
        match msg:
            case Txs() | NewBlock() | Consensus():
                if conn.inbox_full:  # before the seen cache: a later copy may still get in
                    self.metrics.dropped["inbox_full"] += 1
                    return
                fresh = self._gossip.fresh(msg)
                if fresh is not None:
                    conn.deliver(fresh)
            case Status():
                conn.height, conn.head_hash = msg.height, msg.head_hash
                conn.deliver(msg)
            case GetBlocks():
                assert frame.request_id is not None
                if conn.serving >= self.config.max_served_requests:
                    reply = encode_frame(ErrorReply("busy"), frame.request_id)
                    conn.enqueue(reply, ErrorReply.KIND)
                else:
                    conn.serving += 1  # counted now: frames read in one go spawn many tasks
                    conn.tasks.add(
                        self._spawn(self._serve_request(conn, frame.request_id, msg), "p2p-serve")
                    )
            case GetPeers():
                assert frame.request_id is not None
                self._answer_get_peers(conn, frame.request_id)
            case Blocks() | Peers() | ErrorReply():
                self._on_response(conn, frame.request_id, msg)
            case Hello() | Auth():
                self._penalise_conn(conn, "handshake_after_handshake")

    async def _dispatch_loop(self, conn: Connection) -> None:
        """Hand this peer's messages to the handler, one at a time, in order."""
        node_id = conn.node_id
        if node_id not in self._announced:
            self._announced.add(node_id)
            try:
                await self._handler.on_peer_connected(self._info(conn))
            except Exception:
                log.exception("p2p.handler_error event=on_peer_connected")
        while True:
            msg = await conn.next_delivery()
            try:
                await self._handler.on_message(node_id, msg)
            except OrdinetError as exc:
                self._penalise_conn(conn, f"invalid_{msg.KIND}:{exc.code}")
            except Exception:
                log.exception("p2p.handler_error kind=%s peer=%s", msg.KIND, _short(node_id))

    # -- background loops -------------------------------------------------------

    async def _dial_loop(self) -> None:
        assert self._wake_dialer is not None
        while True:
            self._wake_dialer.clear()
            if not self._stopping:
                self._dial_due()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.dial_interval_s):
                    await self._wake_dialer.wait()

    def _dial_due(self) -> None:
        now_s = time.monotonic()
        connected = self._conns
        dialing_ids = {
            entry.node_id
            for addr in self._dialing
            if (entry := self._book.get(addr)) is not None and entry.node_id is not None
        }
        for entry in self._book.due(now_s):
            addr, node_id = entry.addr, entry.node_id
            if addr in self._dialing or addr in self._self_addrs or addr == self.listen_address:
                continue
            if node_id is not None and (
                node_id in connected or node_id in self._blocked or node_id in dialing_ids
            ):
                continue
            if entry.claimed_id is not None and entry.claimed_id in connected:
                continue  # refused as a duplicate last time: no use until it leaves
            if not entry.static and len(connected) + len(self._dialing) >= self.config.max_peers:
                continue
            self._dialing.add(addr)
            if node_id is not None:
                dialing_ids.add(node_id)
            self._spawn(self._dial(addr), f"p2p-dial-{format_address(addr)}")

    async def _status_loop(self) -> None:
        interval_s = self.config.status_interval_s
        if interval_s <= 0:
            return
        while True:
            await asyncio.sleep(interval_s)
            if not self._conns:
                continue
            try:
                height, head_hash = self._head()
                self.broadcast(Status(height=height, head_hash=head_hash))
            except Exception:  # a bug in head(): say so, keep the loop alive
                log.exception("p2p.head_error")

    async def _pex_loop(self) -> None:
        interval_s = self.config.pex_interval_s
        if interval_s <= 0:
            return
        while True:
            await asyncio.sleep(interval_s)
            if self._conns and len(self._conns) < self.config.max_peers:
                conn = self._rng.choice(list(self._conns.values()))
                await self._exchange_peers(conn)

    async def _exchange_peers(self, conn: Connection) -> None:
        """Ask one peer for its peers and remember the new addresses."""
        try:
            reply = await self.request(conn.node_id, GetPeers(), self.config.request_timeout_s)
        except P2PError:
            return
        assert isinstance(reply, Peers)
        now_s = time.monotonic()
        learned = 0
        for node_id, host, port in reply.peers:
            if node_id == self._node_id or node_id in self._blocked:
                continue
            learned += self._book.learn((host, port), node_id, now_s)  # a dial will tell
        if learned and self._wake_dialer is not None:
            self._wake_dialer.set()


TRANSPORT_KEY = web.AppKey("p2p_transport", Transport)


async def _accept(request: web.Request) -> web.WebSocketResponse:
    return await request.app[TRANSPORT_KEY].accept(request)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket bound now, so the port is known before peers dial."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
