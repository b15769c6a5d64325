"""The P2P wire format: message kinds, the msgpack envelope, strict decoding.

Every frame is one binary websocket message holding one msgpack map
``{"t": KIND, ...fields}`` (docs/P2P.md lists every kind and field).
Payload bytes (transactions, blocks, consensus messages) are opaque here:
they are the canonical encodings of node/types.py or of an engine, and this
module checks only their presence, type and size.

Decoding is strict. Anything that is not exactly one of the documented
shapes (not msgpack, trailing bytes, not a map, unknown kind, a missing or
unexpected field, a wrong type, an int out of range, a bool where an int
belongs, an oversize list or byte string) raises ``DecodeError`` with a
machine-readable ``code``; the transport answers that by penalising the
peer. Requests and responses carry a request id (``"id"``) in the envelope;
it is not part of the message objects that a handler sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

import msgpack

from node.codec import MAX_NAME_LEN, U64_MAX
from node.consensus.engine import MAX_LOCATOR
from node.core.catchup import MAX_BLOCKS_PER_REQUEST, Blocks, GetBlocks
from node.errors import DecodeError
from node.types import HASH_SIZE, MAX_TX_SIZE, SIGNATURE_SIZE

PROTOCOL_VERSION = 2  # 2: GetBlocks carries a locator
NODE_ID_SIZE = 32
CHALLENGE_SIZE = 32
MAX_PEERS_PER_MESSAGE = 64
MAX_TXS_PER_MESSAGE = 65_536
MAX_HOST_LEN = 253
MAX_ERROR_CODE_LEN = 64
MAX_REQUEST_ID = U64_MAX
# msgpack overhead, at most: of one bin item in a list (its header), and of
# an envelope around one list.
ITEM_OVERHEAD = 5
ENVELOPE_OVERHEAD = 64

Address: TypeAlias = tuple[str, int]


# -- message kinds ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame of each side: who I am, which chain, a fresh challenge."""

    KIND: ClassVar[str] = "hello"
    protocol_version: int
    chain_id: str
    genesis_hash: bytes
    node_id: bytes
    listen_host: str
    listen_port: int
    height: int
    head_hash: bytes
    challenge: bytes


@dataclass(frozen=True, slots=True)
class Auth:
    """Second frame of each side: a signature over the other's challenge."""

    KIND: ClassVar[str] = "auth"
    signature: bytes


@dataclass(frozen=True, slots=True)
class Txs:
    """A gossip batch of transaction encodings."""

    KIND: ClassVar[str] = "txs"
    txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class NewBlock:
    """The announcement of one block (its canonical encoding)."""

    KIND: ClassVar[str] = "block"
    block: bytes


@dataclass(frozen=True, slots=True)
class Consensus:
    """One consensus-engine message (proposal, vote, ...), opaque bytes."""

    KIND: ClassVar[str] = "consensus"
    data: bytes


@dataclass(frozen=True, slots=True)
class Status:
    """The sender's head: sent periodically, and used to pick sync peers."""

    KIND: ClassVar[str] = "status"
    height: int
    head_hash: bytes


@dataclass(frozen=True, slots=True)
class GetPeers:
    """Request: the listen addresses of the responder's peers."""

    KIND: ClassVar[str] = "get_peers"


@dataclass(frozen=True, slots=True)
class Peers:
    """Response to GetPeers: ``(node_id, host, port)`` of connected peers."""

    KIND: ClassVar[str] = "peers"
    peers: tuple[tuple[bytes, str, int], ...]


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """Response to any request the responder cannot answer; ``code`` says why."""

    KIND: ClassVar[str] = "error"
    code: str


Message: TypeAlias = (
    Hello
    | Auth
    | Txs
    | NewBlock
    | Consensus
    | Status
    | GetBlocks
    | Blocks
    | GetPeers
    | Peers
    | ErrorReply
)
Request: TypeAlias = GetBlocks | GetPeers
Response: TypeAlias = Blocks | Peers | ErrorReply

REQUEST_KINDS = frozenset({GetBlocks.KIND, GetPeers.KIND})
RESPONSE_KINDS = frozenset({Blocks.KIND, Peers.KIND, ErrorReply.KIND})
GOSSIP_KINDS = frozenset({Txs.KIND, NewBlock.KIND, Consensus.KIND})


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: the message and, for requests and responses, its id."""

    msg: Message
    request_id: int | None = None


# -- requests and responses --------------------------------------------------


def answers(request: Request, reply: Response) -> bool:
    """Whether ``reply`` may answer ``request``; an ErrorReply always may.

    A Blocks answer holds at most as many blocks as the range asked for.
    """
    if isinstance(reply, ErrorReply):
        return True
    if isinstance(request, GetBlocks):
        return isinstance(reply, Blocks) and len(reply.blocks) <= request.end - request.start + 1
    return isinstance(reply, Peers)


def fit_blocks(reply: Blocks, request: GetBlocks, max_msg_bytes: int) -> Blocks:
    """The longest prefix of ``reply`` within the range asked and one frame."""
    budget = max_msg_bytes - ENVELOPE_OVERHEAD
    kept = []
    for block, commit in reply.blocks[: request.end - request.start + 1]:
        budget -= len(block) + len(commit) + 3 * ITEM_OVERHEAD
        if budget < 0:
            break
        kept.append((block, commit))
    return Blocks(tuple(kept))


# -- encoding -----------------------------------------------------------------


def _fields(msg: Message) -> dict[str, Any]:
    match msg:
        case Hello():
            return {
                "v": msg.protocol_version,
                "chain": msg.chain_id,
                "genesis": msg.genesis_hash,
                "node": msg.node_id,
                "host": msg.listen_host,
                "port": msg.listen_port,
                "height": msg.height,
                "head": msg.head_hash,
                "challenge": msg.challenge,
            }
        case Auth():
            return {"sig": msg.signature}
        case Txs():
            return {"txs": list(msg.txs)}
        case NewBlock():
            return {"block": msg.block}
        case Consensus():
            return {"data": msg.data}
        case Status():
            return {"height": msg.height, "head": msg.head_hash}
        case GetBlocks():
            return {"start": msg.start, "end": msg.end, "loc": list(msg.locator)}
        case Blocks():
            return {"blocks": [[b, c] for b, c in msg.blocks]}
        case GetPeers():
            return {}
        case Peers():
            return {"peers": [[n, h, p] for n, h, p in msg.peers]}
        case ErrorReply():
            return {"code": msg.code}
    raise TypeError(f"not a P2P message: {msg!r}")


def encode_frame(msg: Message, request_id: int | None = None) -> bytes:
    """The msgpack envelope of ``msg``; requests and responses need an id.

    Encoding does not re-validate what the caller built: a local message
    that would not decode is a bug in the caller, and ``decode_frame`` on
    the receiving side refuses it.
    """
    body: dict[str, Any] = {"t": msg.KIND}
    if (msg.KIND in REQUEST_KINDS or msg.KIND in RESPONSE_KINDS) != (request_id is not None):
        raise ValueError(f"{msg.KIND}: request id given where not expected, or missing")
    if request_id is not None:
        body["id"] = request_id
    body.update(_fields(msg))
    frame: bytes = msgpack.packb(body, use_bin_type=True)
    return frame


# -- strict decoding ----------------------------------------------------------


def _fail(kind: str, message: str, code: str = "bad_field") -> DecodeError:
    return DecodeError(f"p2p {kind}: {message}", code=code)


class _Fields:
    """Typed access to the fields of one envelope; every misuse is a DecodeError."""

    __slots__ = ("_body", "_kind")

    def __init__(self, body: Mapping[str, Any], kind: str) -> None:
        self._body = body
        self._kind = kind

    def get(self, key: str) -> Any:
        try:
            return self._body[key]
        except KeyError:
            raise _fail(self._kind, f"missing field {key!r}", "missing_field") from None

    def uint(self, key: str, maximum: int = U64_MAX) -> int:
        value = self.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(self._kind, f"{key!r} must be an unsigned int")
        if not 0 <= value <= maximum:
            raise _fail(self._kind, f"{key!r}={value} out of [0, {maximum}]")
        return value

    def bytes_(self, key: str, *, size: int | None = None, max_size: int | None = None) -> bytes:
        return _check_bin(self._kind, key, self.get(key), size=size, max_size=max_size)

    def text(self, key: str, max_len: int) -> str:
        return _check_text(self._kind, key, self.get(key), max_len)

    def seq(self, key: str, max_len: int) -> list[Any] | tuple[Any, ...]:
        value = self.get(key)
        if not isinstance(value, list | tuple):
            raise _fail(self._kind, f"{key!r} must be a list")
        if len(value) > max_len:
            message = f"{key!r} has {len(value)} items, at most {max_len}"
            raise _fail(self._kind, message, "oversize")
        return value


def _check_bin(
    kind: str, what: str, value: Any, *, size: int | None = None, max_size: int | None = None
) -> bytes:
    if not isinstance(value, bytes):
        raise _fail(kind, f"{what} must be bytes")
    if size is not None and len(value) != size:
        raise _fail(kind, f"{what} must be {size} bytes, got {len(value)}")
    if max_size is not None and not 0 < len(value) <= max_size:
        raise _fail(kind, f"{what} must be 1 to {max_size} bytes, got {len(value)}", "oversize")
    return value


def _check_text(kind: str, what: str, value: Any, max_len: int) -> str:
    if not isinstance(value, str):
        raise _fail(kind, f"{what} must be a string")
    if not value or len(value) > max_len or not value.isascii() or not value.isprintable():
        raise _fail(kind, f"{what} must be 1 to {max_len} printable ASCII characters")
    return value


def _check_port(kind: str, what: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise _fail(kind, f"{what} must be a port number in [1, 65535]")
    return value


def _hello(f: _Fields) -> Hello:
    return Hello(
        protocol_version=f.uint("v", 2**32 - 1),
        chain_id=f.text("chain", MAX_NAME_LEN),
        genesis_hash=f.bytes_("genesis", size=HASH_SIZE),
        node_id=f.bytes_("node", size=NODE_ID_SIZE),
        listen_host=f.text("host", MAX_HOST_LEN),
        listen_port=_check_port("hello", "port", f.get("port")),
        height=f.uint("height"),
        head_hash=f.bytes_("head", size=HASH_SIZE),
        challenge=f.bytes_("challenge", size=CHALLENGE_SIZE),
    )


def _txs(f: _Fields) -> Txs:
    items = f.seq("txs", MAX_TXS_PER_MESSAGE)
    if not items:
        raise _fail("txs", "empty batch")
    return Txs(tuple(_check_bin("txs", "tx", tx, max_size=MAX_TX_SIZE) for tx in items))


def _get_blocks(f: _Fields) -> GetBlocks:
    start, end = f.uint("start"), f.uint("end")
    if end < start or end - start >= MAX_BLOCKS_PER_REQUEST:
        raise _fail("get_blocks", f"range {start}..{end} is empty or longer than 256", "bad_range")
    locator = tuple(
        _check_bin("get_blocks", "loc", h, size=HASH_SIZE) for h in f.seq("loc", MAX_LOCATOR)
    )
    return GetBlocks(start=start, end=end, locator=locator)


def _blocks(f: _Fields) -> Blocks:
    pairs = []
    for item in f.seq("blocks", MAX_BLOCKS_PER_REQUEST):
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise _fail("blocks", "each entry must be [block, commit]")
        block = _check_bin("blocks", "block", item[0], max_size=U64_MAX)
        commit = _check_bin("blocks", "commit", item[1])
        pairs.append((block, commit))
    return Blocks(tuple(pairs))


def _peers(f: _Fields) -> Peers:
    out = []
    for item in f.seq("peers", MAX_PEERS_PER_MESSAGE):
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise _fail("peers", "each entry must be [node_id, host, port]")
        node_id = _check_bin("peers", "node_id", item[0], size=NODE_ID_SIZE)
        host = _check_text("peers", "host", item[1], MAX_HOST_LEN)
        out.append((node_id, host, _check_port("peers", "port", item[2])))
    return Peers(tuple(out))


_DECODERS: dict[str, tuple[frozenset[str], Callable[[_Fields], Message]]] = {
    Hello.KIND: (
        frozenset({"v", "chain", "genesis", "node", "host", "port", "height", "head", "challenge"}),
        _hello,
    ),
    Auth.KIND: (frozenset({"sig"}), lambda f: Auth(f.bytes_("sig", size=SIGNATURE_SIZE))),
    Txs.KIND: (frozenset({"txs"}), _txs),
    NewBlock.KIND: (frozenset({"block"}), lambda f: NewBlock(f.bytes_("block", max_size=U64_MAX))),
    Consensus.KIND: (
        frozenset({"data"}),
        lambda f: Consensus(f.bytes_("data", max_size=U64_MAX)),
    ),
    Status.KIND: (
        frozenset({"height", "head"}),
        lambda f: Status(height=f.uint("height"), head_hash=f.bytes_("head", size=HASH_SIZE)),
    ),
    GetBlocks.KIND: (frozenset({"id", "start", "end", "loc"}), _get_blocks),
    Blocks.KIND: (frozenset({"id", "blocks"}), _blocks),
    GetPeers.KIND: (frozenset({"id"}), lambda f: GetPeers()),
    Peers.KIND: (frozenset({"id", "peers"}), _peers),
    ErrorReply.KIND: (
        frozenset({"id", "code"}),
        lambda f: ErrorReply(f.text("code", MAX_ERROR_CODE_LEN)),
    ),
}


def check_message(msg: Message) -> None:
    """DecodeError if a peer would refuse ``msg``: the rules of ``decode_frame``
    applied to its fields as they are, with nothing encoded or copied."""
    _, decode = _DECODERS[msg.KIND]
    decode(_Fields(_fields(msg), msg.KIND))


def decode_frame(data: bytes) -> Frame:
    """Decode one binary frame; anything but a documented shape is a DecodeError."""
    if not isinstance(data, bytes | bytearray):
        raise DecodeError("p2p frame: expected bytes", code="not_msgpack")
    try:
        body = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types for bad input
        raise DecodeError(f"p2p frame: not msgpack ({exc})", code="not_msgpack") from None
    if not isinstance(body, dict):
        raise DecodeError("p2p frame: envelope must be a map", code="not_a_map")
    kind = body.get("t")
    entry = _DECODERS.get(kind) if isinstance(kind, str) else None
    if entry is None or not isinstance(kind, str):
        raise DecodeError(f"p2p frame: unknown kind {kind!r}", code="unknown_kind")
    allowed, decode = entry
    extra = body.keys() - allowed - {"t"}
    if extra:
        raise _fail(kind, f"unexpected fields {sorted(map(str, extra))}", "unexpected_field")
    fields = _Fields(body, kind)
    request_id = fields.uint("id", MAX_REQUEST_ID) if "id" in allowed else None
    return Frame(decode(fields), request_id)
