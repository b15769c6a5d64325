"""The Python SDK's client of a node's REST API: ``Client`` and ``AsyncClient``.

``Client`` is synchronous and uses only the standard library (one
keep-alive ``http.client`` connection, guarded by a lock so threads may
share it); ``AsyncClient`` has the same methods as coroutines, on aiohttp::

    from node import Client, Wallet
    c = Client("http://127.0.0.1:8645")
    c.submit([tx])                      # [{"id", "accepted", "error", "code"}]
    c.wait_for_tx(tx.id)                # the committed tx, or TimeoutError
    c.account(w.address)["balance"]

Ids and addresses may be given as bytes or hex. A bad argument (wrong
type, negative or oversize number, bad address length) is a TypeError or
ValueError naming it, raised at the call before any request. An error answer of the API
raises ``ApiError`` (HTTP status, the API's ``code`` and message); a node
that cannot be reached raises ``NodeUnreachable``; a request that takes
longer than ``timeout`` seconds raises ``TimeoutError``. docs/API.md lists
the endpoints and codes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlencode, urlsplit

from node.codec import check_uint
from node.errors import OrdinetError
from node.types import Transaction, bytes32

if TYPE_CHECKING:
    import aiohttp

DEFAULT_TIMEOUT_S = 10.0
#: transactions per POST /txs (the API takes up to 10,000 by default)
DEFAULT_BATCH_SIZE = 5_000
DEFAULT_POLL_S = 0.1


class ApiError(OrdinetError):
    """The node answered with an error: ``status`` (HTTP), ``code``, message."""

    code = "api_error"

    def __init__(
        self, status: int, code: str, message: str, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.body = body if body is not None else {}

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class NodeUnreachable(OrdinetError, ConnectionError):
    """No answer from the node: refused, reset, or not an HTTP server."""

    code = "unreachable"


# -- what each call sends and how its answer is read (shared by both clients) ----


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    path: str
    body: dict[str, Any] | None = None
    #: the answer's key to return instead of the whole object
    pick: str | None = None
    #: a 404 saying status "unknown" is an answer, not an error (GET /txs/{id})
    not_found_ok: bool = False
    text: bool = False


def _hex32(value: bytes | str, what: str) -> str:
    """32 bytes (or 64 hex characters, 0x allowed) as lowercase hex."""
    return bytes32(value, what).hex()


def _seconds(value: float, what: str, *, zero_ok: bool) -> float:
    """A finite, non-negative (or positive) number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(
            f"{what} must be a finite number {'>=' if zero_ok else '>'} 0, got {value}"
        )
    return float(value)


def _encoded_hex(tx: Transaction | bytes | str, i: int) -> str:
    if isinstance(tx, Transaction):
        return tx.encode().hex()
    if isinstance(tx, bytes | bytearray):
        return bytes(tx).hex()
    if isinstance(tx, str):  # passed as is: the node answers bad_hex for this item alone
        return tx
    raise TypeError(f"txs[{i}] must be a Transaction, bytes or a hex str, got {type(tx).__name__}")


def _batches(txs: Sequence[Transaction | bytes | str], size: int) -> list[_Call]:
    if isinstance(txs, Transaction | bytes | bytearray | str):
        raise TypeError(
            f"txs must be a list of Transactions or encodings, got one {type(txs).__name__} "
            "(wrap it in a list)"
        )
    hexes = [_encoded_hex(tx, i) for i, tx in enumerate(txs)]
    return [
        _Call("POST", "/txs", {"txs": hexes[i : i + size]}, pick="results")
        for i in range(0, len(hexes), size)
    ]


def _status() -> _Call:
    return _Call("GET", "/status")


def _block(height: int | str) -> _Call:
    if height == "latest":
        return _Call("GET", "/blocks/latest")
    if isinstance(height, str):
        raise ValueError(f"height must be an int or 'latest', got {height[:40]!r}")
    return _Call("GET", f"/blocks/{check_uint(height, 64, 'height')}")


def _tx(tx_id: bytes | str) -> _Call:
    return _Call("GET", f"/txs/{_hex32(tx_id, 'tx id')}", not_found_ok=True)


def _account(address: bytes | str) -> _Call:
    return _Call("GET", f"/accounts/{_hex32(address, 'address')}")


def _mempool(limit: int) -> _Call:
    return _Call("GET", "/mempool?" + urlencode({"limit": check_uint(limit, 32, "limit")}))


def _fee_estimate(blocks: int, confidence: float, size: int | None) -> _Call:
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
        raise ValueError(f"blocks must be an integer >= 1, got {blocks!r}")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0 < confidence < 1
    ):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    query: dict[str, Any] = {"blocks": blocks, "confidence": repr(float(confidence))}
    if size is not None:
        query["size"] = check_uint(size, 32, "size")
    return _Call("GET", "/fees/estimate?" + urlencode(query))


def _partition(peers: Sequence[bytes | str]) -> _Call:
    if isinstance(peers, str | bytes | bytearray):
        raise TypeError(f"peers must be a list of node ids, got one {type(peers).__name__}")
    return _Call("POST", "/admin/partition", {"peers": [_hex32(p, "peer id") for p in peers]})


def _delay(delay_ms: int) -> _Call:
    return _Call("POST", "/admin/delay", {"delay_ms": check_uint(delay_ms, 32, "delay_ms")})


def _read(call: _Call, status: int, body: bytes) -> Any:
    """The answer of ``call``, or ApiError."""
    if call.text and status < 400:
        return body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if status >= 400:
        if isinstance(data, dict) and isinstance(data.get("code"), str):
            if call.not_found_ok and status == 404 and data.get("status") == "unknown":
                return data
            return _raise(status, data)
        text = body[:200].decode("utf-8", "replace")
        raise ApiError(status, "http_error", f"not an Ordinet API error: {text!r}")
    if not isinstance(data, dict):
        raise ApiError(status, "bad_answer", "the node's answer is not a JSON object")
    return data[call.pick] if call.pick is not None else data


def _raise(status: int, data: dict[str, Any]) -> Any:
    raise ApiError(status, data["code"], str(data.get("error", data["code"])), data)


def _split_url(url: str) -> SplitResult:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url must be http(s)://host:port, got {url[:80]!r}")
    try:
        parts.port  # noqa: B018 (urllib checks the port when it is read)
    except ValueError:
        raise ValueError(f"url {url[:80]!r}: the port must be in [0, 65535]") from None
    return parts


def _options(timeout: float, batch_size: int) -> tuple[float, int]:
    """The checked ``timeout`` and ``batch_size`` of a client."""
    check_uint(batch_size, 32, "batch_size")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return _seconds(timeout, "timeout", zero_ok=False), batch_size


class _Deadline:
    """The end of a ``wait_for_*`` poll, on the monotonic clock."""

    def __init__(self, timeout_s: float, poll_s: float) -> None:
        self.timeout_s = _seconds(timeout_s, "timeout_s", zero_ok=True)
        self.poll_s = _seconds(poll_s, "poll_s", zero_ok=False)
        self._end_s = time.monotonic() + timeout_s

    def check(self, what: str) -> None:
        """TimeoutError saying ``what`` did not happen, once the time is up."""
        if time.monotonic() >= self._end_s:
            raise TimeoutError(f"{what} after {self.timeout_s} s")


def _committed(answer: dict[str, Any]) -> bool:
    return answer.get("status") == "committed"


def _not_committed(tx_id: bytes | str, answer: dict[str, Any]) -> str:
    return f"tx {_hex32(tx_id, 'tx id')} not committed (status {answer.get('status')})"


def _target_height(height: int) -> int:
    return check_uint(height, 64, "height")


def _reached(status: dict[str, Any], height: int) -> bool:
    return int(status["height"]) >= height


def _not_reached(status: dict[str, Any], height: int) -> str:
    return f"height {height} not reached (at {status['height']})"


# -- the synchronous client -----------------------------------------------------------


class Client:
    """A node's REST API, synchronously (standard library only)."""

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT_S, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        parts = _split_url(url)
        self.url = url.rstrip("/")
        self.timeout, self.batch_size = _options(timeout, batch_size)
        self._https = parts.scheme == "https"
        self._host: str = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # -- transport ---------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _do(self, call: _Call) -> Any:
        body = json.dumps(call.body).encode() if call.body is not None else None
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        with self._lock:
            status, answer = self._exchange(call.method, self._prefix + call.path, body, headers)
        return _read(call, status, answer)

    def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        # A kept-alive connection the server has since closed fails on first
        # use; that one case is retried on a fresh connection.
        for attempt in range(2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except TimeoutError:
                self._drop()
                raise
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop()
                if reused and attempt == 0:
                    continue
                raise NodeUnreachable(f"{self.url}: connection lost: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise NodeUnreachable(f"{self.url}: {exc}") from exc
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API -------------------------------------------------------------------

    def submit(self, txs: Sequence[Transaction | bytes | str]) -> list[dict[str, Any]]:
        """Submit transactions (objects, encodings or hex); one result per tx,
        in order: ``{"id", "accepted", "error", "code"}``. Big lists are sent
        in batches of ``batch_size``."""
        results: list[dict[str, Any]] = []
        for call in _batches(txs, self.batch_size):
            results.extend(self._do(call))
        return results

    def status(self) -> dict[str, Any]:
        return self._do(_status())

    def block(self, height: int | str = "latest") -> dict[str, Any]:
        return self._do(_block(height))

    def tx(self, tx_id: bytes | str) -> dict[str, Any]:
        """The tx and its ``status``: "pending", "committed" (with height and
        index) or "unknown" (neither committed nor pooled; no ``tx`` key)."""
        return self._do(_tx(tx_id))

    def account(self, address: bytes | str) -> dict[str, Any]:
        """``{"address", "balance", "nonce", "pending_nonce"}``; an unknown
        address is the zero account."""
        return self._do(_account(address))

    def next_nonce(self, address: bytes | str) -> int:
        """The nonce a new tx of ``address`` should carry (after its pooled ones)."""
        return int(self.account(address)["pending_nonce"])

    def mempool(self, limit: int = 100) -> dict[str, Any]:
        return self._do(_mempool(limit))

    def estimate_fee(
        self, blocks: int = 3, confidence: float = 0.9, *, size: int | None = None
    ) -> dict[str, Any]:
        """GET /fees/estimate: ``{"fee", "fee_rate", "blocks", "confidence", "size",
        "estimator", "model_sha256", "basis"}``, the fee that gets a tx of ``size``
        bytes (default: a plain transfer) in within ``blocks`` blocks with
        probability ``confidence``."""
        return self._do(_fee_estimate(blocks, confidence, size))

    def peers(self) -> list[dict[str, Any]]:
        return self._do(_Call("GET", "/peers", pick="peers"))

    def consensus(self) -> dict[str, Any]:
        return self._do(_Call("GET", "/consensus"))

    def metrics(self) -> str:
        """The Prometheus text exposition."""
        return self._do(_Call("GET", "/metrics", text=True))

    def openapi(self) -> dict[str, Any]:
        return self._do(_Call("GET", "/openapi.json"))

    def wait_for_tx(
        self, tx_id: bytes | str, timeout_s: float = 30.0, *, poll_s: float = DEFAULT_POLL_S
    ) -> dict[str, Any]:
        """Poll until the tx is committed and return ``tx()``'s answer;
        TimeoutError after ``timeout_s``."""
        deadline = _Deadline(timeout_s, poll_s)
        while True:
            answer = self.tx(tx_id)
            if _committed(answer):
                return answer
            deadline.check(_not_committed(tx_id, answer))
            time.sleep(deadline.poll_s)

    def wait_for_height(
        self, height: int, timeout_s: float = 30.0, *, poll_s: float = DEFAULT_POLL_S
    ) -> dict[str, Any]:
        """Poll until the node's head is at least ``height``; return its status."""
        height = _target_height(height)
        deadline = _Deadline(timeout_s, poll_s)
        while True:
            status = self.status()
            if _reached(status, height):
                return status
            deadline.check(_not_reached(status, height))
            time.sleep(deadline.poll_s)

    # -- admin (fault injection; the node must enable it) --------------------------------

    def admin_partition(self, peers: Sequence[bytes | str]) -> list[str]:
        """Cut and refuse the node's links to these peers (node ids)."""
        return self._do(_partition(peers))["blocked"]

    def admin_heal(self) -> None:
        self._do(_Call("POST", "/admin/heal", {}))

    def admin_delay(self, delay_ms: int) -> None:
        self._do(_delay(delay_ms))

    def __repr__(self) -> str:
        return f"Client({self.url!r})"


# -- the asynchronous client ----------------------------------------------------------


class AsyncClient:
    """The same API as ``Client``, as coroutines on aiohttp.

    Use ``async with AsyncClient(url) as c`` (or call ``close()``); the
    session is opened on first use, in the running loop.
    """

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT_S, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        _split_url(url)
        self.url = url.rstrip("/")
        self.timeout, self.batch_size = _options(timeout, batch_size)
        self._session: aiohttp.ClientSession | None = None

    async def _do(self, call: _Call) -> Any:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.request(
                call.method, self.url + call.path, json=call.body
            ) as response:
                status, body = response.status, await response.read()
        except TimeoutError:
            raise
        except aiohttp.ClientError as exc:
            raise NodeUnreachable(f"{self.url}: {exc}") from exc
        return _read(call, status, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def submit(self, txs: Sequence[Transaction | bytes | str]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for call in _batches(txs, self.batch_size):
            results.extend(await self._do(call))
        return results

    async def status(self) -> dict[str, Any]:
        return await self._do(_status())

    async def block(self, height: int | str = "latest") -> dict[str, Any]:
        return await self._do(_block(height))

    async def tx(self, tx_id: bytes | str) -> dict[str, Any]:
        return await self._do(_tx(tx_id))

    async def account(self, address: bytes | str) -> dict[str, Any]:
        return await self._do(_account(address))

    async def next_nonce(self, address: bytes | str) -> int:
        return int((await self.account(address))["pending_nonce"])

    async def mempool(self, limit: int = 100) -> dict[str, Any]:
        return await self._do(_mempool(limit))

    async def estimate_fee(
        self, blocks: int = 3, confidence: float = 0.9, *, size: int | None = None
    ) -> dict[str, Any]:
        """As ``Client.estimate_fee``."""
        return await self._do(_fee_estimate(blocks, confidence, size))

    async def peers(self) -> list[dict[str, Any]]:
        return await self._do(_Call("GET", "/peers", pick="peers"))

    async def consensus(self) -> dict[str, Any]:
        return await self._do(_Call("GET", "/consensus"))

    async def metrics(self) -> str:
        return await self._do(_Call("GET", "/metrics", text=True))

    async def openapi(self) -> dict[str, Any]:
        return await self._do(_Call("GET", "/openapi.json"))

    async def wait_for_tx(
        self, tx_id: bytes | str, timeout_s: float = 30.0, *, poll_s: float = DEFAULT_POLL_S
    ) -> dict[str, Any]:
        deadline = _Deadline(timeout_s, poll_s)
        while True:
            answer = await self.tx(tx_id)
            if _committed(answer):
                return answer
            deadline.check(_not_committed(tx_id, answer))
            await asyncio.sleep(deadline.poll_s)

    async def wait_for_height(
        self, height: int, timeout_s: float = 30.0, *, poll_s: float = DEFAULT_POLL_S
    ) -> dict[str, Any]:
        height = _target_height(height)
        deadline = _Deadline(timeout_s, poll_s)
        while True:
            status = await self.status()
            if _reached(status, height):
                return status
            deadline.check(_not_reached(status, height))
            await asyncio.sleep(deadline.poll_s)

    async def admin_partition(self, peers: Sequence[bytes | str]) -> list[str]:
        return (await self._do(_partition(peers)))["blocked"]

    async def admin_heal(self) -> None:
        await self._do(_Call("POST", "/admin/heal", {}))

    async def admin_delay(self, delay_ms: int) -> None:
        await self._do(_delay(delay_ms))

    def __repr__(self) -> str:
        return f"AsyncClient({self.url!r})"
