"""Serving an aiohttp application on a port anyone may reach: ``HttpServer``.

Both listeners of a node (the REST API, node/rpc, and the P2P websocket
port, node/p2p) are aiohttp servers, and aiohttp bounds neither how long a
client may take to send its request nor how many connections it may hold.
``HttpServer`` serves an application with those bounds (``HttpLimits``):

- head: a connection whose first request head has not fully arrived within
  ``head_timeout_s`` of connecting is closed (aborted: no answer, no log);
- body: a request whose body has not fully arrived within ``body_timeout_s``
  of its head is closed the same way;
- idle: between two requests a keep-alive connection waits at most
  ``idle_timeout_s`` for the next head, complete (aiohttp's keep-alive timer);
- connections: at most ``max_connections`` are open at once; past that a new
  connection is closed as soon as it is accepted, before any parsing;
- a request the HTTP parser rejects (bad method, NUL in a header, an over-long
  line) is answered 400 in the JSON error format of every answer,
  ``{"error", "code"}`` (``error_response``), and closed;
- an accept() that fails for lack of resources (EMFILE, ENFILE, ENOBUFS,
  ENOMEM) is reported by asyncio through the loop's exception handler once
  per attempt, with a traceback: while a server runs, ``AcceptErrorLog``
  turns those reports into one WARNING line per interval with a count.

Repeated events (refusals over the cap, parser rejections, accept errors)
are logged through ``EveryInterval``: one line when the first happens, then
at most one per ``LOG_INTERVAL_S`` with how many there were, so no client
can make the log grow faster than that. ``HttpServer.stats`` counts them
all for /metrics. Upgraded connections (websockets) are bounded by their
own protocol once their head is in: this module times only HTTP.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_request import BaseRequest

from node.errors import ConfigError

log = logging.getLogger("node.http")

LOG_INTERVAL_S = 10.0
# how much of the parser's complaint a client gets back (and the log keeps)
_MAX_DETAIL_CHARS = 200
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

# The ``code`` of an HTTP error status in the JSON error format.
HTTP_ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "headers_too_large",
    500: "internal_error",
}


def error_response(status: int, code: str, message: str, **extra: object) -> web.Response:
    """Every error a node's HTTP server answers: JSON ``{"error", "code", ...}``."""
    return web.json_response({"error": message, "code": code, **extra}, status=status)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one listener allows a client (module docstring); checked when built."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        for name in ("head_timeout_s", "body_timeout_s", "idle_timeout_s"):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not 0 < value < math.inf:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        count = self.max_connections
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"max_connections must be an integer >= 1, got {count!r}")


class EveryInterval:
    """A repeated event logged at most once per ``interval_s``, with its count.

    The first event of a quiet period is logged at once; the ones that follow
    within the interval are counted and logged in one line when it ends.
    """

    def __init__(
        self,
        level: int,
        event: str,
        *,
        interval_s: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.level = level
        self.event = event
        self.interval_s = interval_s
        self.total = 0
        self._clock = clock
        self._pending = 0
        self._detail = ""
        self._quiet_until = 0.0
        self._flush: asyncio.TimerHandle | None = None

    def note(self, detail: str = "") -> None:
        self.total += 1
        self._pending += 1
        self._detail = detail
        now = self._clock()
        if now >= self._quiet_until:
            self._emit(now)
        elif self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self._quiet_until - now, self._flush_now)

    def close(self) -> None:
        """Log what is still counted (the server stops)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._pending:
            self._emit(self._clock())

    def _flush_now(self) -> None:
        self._flush = None
        if self._pending:
            self._emit(self._clock())

    def _emit(self, now: float) -> None:
        detail = f" last={self._detail}" if self._detail else ""
        log.log(
            self.level,
            "%s count=%d in_last_s=%.0f total=%d%s",
            self.event,
            self._pending,
            self.interval_s,
            self.total,
            detail,
        )
        self._pending = 0
        self._quiet_until = now + self.interval_s


def _slug(text: str) -> str:
    return "_".join(str(text).split())[:_MAX_DETAIL_CHARS]


# -- accept errors --------------------------------------------------------------


class AcceptErrorLog:
    """The loop's exception handler while servers run: resource errors of
    accept() become one line per interval; anything else goes on as before.

    asyncio (``BaseSelectorEventLoop._accept_connection``) reports such an
    error through ``loop.call_exception_handler`` with a ``socket`` in the
    context, for every failed attempt (up to the backlog per wake-up), and
    retries a second later; the default handler logs each with a traceback.
    """

    _installed: dict[asyncio.AbstractEventLoop, AcceptErrorLog] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.users = 0
        self.errors = EveryInterval(logging.WARNING, "http.accept_failed")
        #: failures by the listening socket's file descriptor
        self.by_fd: dict[int, int] = {}
        self._previous = loop.get_exception_handler()

    @classmethod
    def acquire(cls, loop: asyncio.AbstractEventLoop) -> AcceptErrorLog:
        handler = cls._installed.get(loop)
        if handler is None:
            handler = cls._installed[loop] = cls(loop)
            loop.set_exception_handler(handler)
        handler.users += 1
        return handler

    def release(self) -> None:
        self.users -= 1
        if self.users == 0:
            self.errors.close()
            self.loop.set_exception_handler(self._previous)
            self._installed.pop(self.loop, None)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, OSError)
            and exc.errno in _RESOURCE_ERRNOS
            and "socket" in context
            and "transport" not in context
        ):
            fd = context["socket"].fileno()
            self.by_fd[fd] = self.by_fd.get(fd, 0) + 1
            name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            self.errors.note(f"{name}({_slug(exc.strerror or '')})")
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)


# -- the server -------------------------------------------------------------------


class _Listener:
    """What the connections of one HttpServer share: limits, counts, logs."""

    def __init__(self, name: str, limits: HttpLimits) -> None:
        self.name = name
        self.limits = limits
        self.open: set[_Connection] = set()
        self.refused = EveryInterval(logging.WARNING, f"http.refused server={name}")
        self.bad_requests = EveryInterval(logging.INFO, f"http.bad_request server={name}")
        self.timeouts = {"head": 0, "body": 0}

    def admit(self, conn: _Connection) -> bool:
        if len(self.open) >= self.limits.max_connections:
            self.refused.note(f"max_connections={self.limits.max_connections}")
            return False
        self.open.add(conn)
        return True

    def close_logs(self) -> None:
        self.refused.close()
        self.bad_requests.close()


class _Connection(web.RequestHandler):
    """aiohttp's protocol for one connection, with a deadline on the parts of
    a request the client controls and the JSON error format."""

    __slots__ = ("_admitted", "_deadline", "_listener")

    def __init__(self, manager: web.Server, *, listener: _Listener, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._listener = listener
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._listener.admit(self):
            cast(asyncio.Transport, transport).abort()  # over the cap: not even parsed
            return
        self._admitted = True
        super().connection_made(transport)
        self._arm(self._listener.limits.head_timeout_s, "head", None)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._disarm()
        self._listener.open.discard(self)
        super().connection_lost(exc)

    def head_received(self, payload: StreamReader) -> None:
        """A request head arrived (from the request factory): its body is timed next."""
        self._disarm()
        if not payload.is_eof():
            self._arm(self._listener.limits.body_timeout_s, "body", payload)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, ConnectionError):
            # the client left mid-request: nothing to answer, nothing to report
            response = error_response(400, "connection_lost", "the client closed the connection")
        elif status >= 500:
            self.log_exception("http.handler_failed server=%s", self._listener.name, exc_info=exc)
            response = error_response(status, "internal_error", "internal error; see the log")
        else:
            detail = _slug(message or (str(exc) if exc else "") or "malformed request")
            self._listener.bad_requests.note(detail)
            response = error_response(
                status,
                HTTP_ERROR_CODES.get(status, "bad_request"),
                f"the HTTP request is malformed: {detail}",
            )
        response.force_close()
        return response

    def _arm(self, delay_s: float, phase: str, payload: StreamReader | None) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(delay_s, self._expire, phase, payload)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, phase: str, payload: StreamReader | None) -> None:
        self._deadline = None
        if payload is not None and payload.is_eof():
            return
        self._listener.timeouts[phase] += 1
        transport = self.transport
        self.force_close()
        if transport is not None:
            transport.abort()  # close() would wait for a client that does not read


class HttpServer:
    """One aiohttp application served on one listening socket within ``limits``.

    ``start()`` runs the application's startup (its cleanup contexts) and
    listens on ``sock`` (already bound) or on ``host``:``port``; ``stop()``
    closes the listener and every connection and runs the app's cleanup.
    """

    def __init__(
        self,
        app: web.Application,
        limits: HttpLimits,
        *,
        name: str,
        host: str | None = None,
        port: int = 0,
        sock: socket.socket | None = None,
        shutdown_timeout_s: float = 60.0,
    ) -> None:
        if (sock is None) == (host is None):
            raise ValueError("give either a bound socket or a host")
        self.limits = limits
        self.name = name
        self._listener = _Listener(name, limits)
        self._host = host
        self._port = port
        self._sock = sock
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=shutdown_timeout_s,
        )
        self._accept_log: AcceptErrorLog | None = None
        self._server: asyncio.Server | None = None
        self._set_up = False

    @property
    def port(self) -> int:
        """The bound port (0 before start)."""
        if self._server is None or not self._server.sockets:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._listener.open)

    def stats(self) -> dict[str, Any]:
        """Counts for /metrics: open connections, refusals, timeouts, rejected requests."""
        listener = self._listener
        return {
            "open": len(listener.open),
            "max_connections": self.limits.max_connections,
            "refused": listener.refused.total,
            "timeouts": dict(listener.timeouts),
            "bad_requests": listener.bad_requests.total,
            "accept_errors": self._accept_errors(),
        }

    def _accept_errors(self) -> int:
        if self._accept_log is None or self._server is None:
            return 0
        by_fd = self._accept_log.by_fd
        return sum(by_fd.get(sock.fileno(), 0) for sock in self._server.sockets)

    async def start(self) -> None:
        """Start the application and listen; OSError when the address is taken."""
        if self._set_up:
            raise RuntimeError(f"{self.name} server already started")
        self._set_up = True
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        wrapped = server.request_factory

        def request_factory(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: web.RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> BaseRequest:
            if isinstance(protocol, _Connection):
                protocol.head_received(payload)
            return wrapped(message, payload, protocol, writer, task)

        server.request_factory = request_factory
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = {
            "loop": loop,
            "listener": self._listener,
            "access_log": None,
            "keepalive_timeout": self.limits.idle_timeout_s,
        }

        def connection() -> _Connection:
            return _Connection(server, **options)

        self._accept_log = AcceptErrorLog.acquire(loop)
        try:
            if self._sock is not None:
                self._server = await loop.create_server(connection, sock=self._sock)
            else:
                self._server = await loop.create_server(connection, self._host, self._port)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop listening, close every connection, run the app's cleanup (once)."""
        if not self._set_up:
            return
        self._set_up = False
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._runner.cleanup()
        self._listener.close_logs()
        if self._accept_log is not None:
            self._accept_log.release()
            self._accept_log = None
