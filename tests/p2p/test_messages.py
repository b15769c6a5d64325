"""The wire format: every kind round-trips; anything else is a DecodeError."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.errors import DecodeError
from node.p2p.messages import (
    MAX_BLOCKS_PER_REQUEST,
    MAX_PEERS_PER_MESSAGE,
    PROTOCOL_VERSION,
    Auth,
    Blocks,
    Consensus,
    ErrorReply,
    Frame,
    GetBlocks,
    GetPeers,
    Hello,
    Message,
    NewBlock,
    Peers,
    Status,
    Txs,
    decode_frame,
    encode_frame,
)
from node.types import MAX_TX_SIZE

u64 = st.integers(min_value=0, max_value=2**64 - 1)
hash32 = st.binary(min_size=32, max_size=32)
payload = st.binary(min_size=1, max_size=300)
name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=32)
host = st.sampled_from(["127.0.0.1", "::1", "node-3.example", "10.0.0.7"])
port = st.integers(min_value=1, max_value=65535)

messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(
        Hello,
        protocol_version=st.integers(0, 2**32 - 1),
        chain_id=name,
        genesis_hash=hash32,
        node_id=hash32,
        listen_host=host,
        listen_port=port,
        height=u64,
        head_hash=hash32,
        challenge=hash32,
    ),
    st.builds(Auth, signature=st.binary(min_size=64, max_size=64)),
    st.builds(Txs, txs=st.lists(st.binary(min_size=1, max_size=400), min_size=1).map(tuple)),
    st.builds(NewBlock, block=payload),
    st.builds(Consensus, data=payload),
    st.builds(Status, height=u64, head_hash=hash32),
    st.builds(Blocks, blocks=st.lists(st.tuples(payload, st.binary(max_size=80))).map(tuple)),
    st.builds(Peers, peers=st.lists(st.tuples(hash32, host, port), max_size=5).map(tuple)),
    st.just(GetPeers()),
    st.builds(ErrorReply, code=name),
)
FIELD_NAMES = sorted(
    {"v", "chain", "genesis", "node", "host", "port", "height", "head", "challenge", "sig"}
    | {"txs", "block", "data", "id", "start", "end", "blocks", "peers", "code", "x"}
)
request_ids = st.integers(min_value=0, max_value=2**64 - 1)


@given(messages, request_ids)
def test_every_message_round_trips(msg: Message, request_id: int) -> None:
    needs_id = isinstance(msg, GetBlocks | GetPeers | Blocks | Peers | ErrorReply)
    rid = request_id if needs_id else None
    assert decode_frame(encode_frame(msg, rid)) == Frame(msg, rid)


@given(u64, st.integers(0, MAX_BLOCKS_PER_REQUEST - 1), request_ids)
def test_get_blocks_round_trips_for_every_valid_range(start: int, span: int, rid: int) -> None:
    end = min(start + span, 2**64 - 1)
    msg = GetBlocks(start=start, end=end)
    assert decode_frame(encode_frame(msg, rid)) == Frame(msg, rid)


def test_requests_and_responses_need_an_id_and_gossip_must_not_have_one() -> None:
    with pytest.raises(ValueError):
        encode_frame(GetPeers())
    with pytest.raises(ValueError):
        encode_frame(Status(height=1, head_hash=bytes(32)), 5)
    with pytest.raises(DecodeError) as exc:
        decode_frame(msgpack.packb({"t": "get_peers"}))
    assert exc.value.code == "missing_field"
    with pytest.raises(DecodeError) as exc:
        decode_frame(msgpack.packb({"t": "consensus", "data": b"x", "id": 1}))
    assert exc.value.code == "unexpected_field"


def _hello_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "t": "hello",
        "v": PROTOCOL_VERSION,
        "chain": "c",
        "genesis": bytes(32),
        "node": bytes(32),
        "host": "127.0.0.1",
        "port": 9000,
        "height": 0,
        "head": bytes(32),
        "challenge": bytes(32),
    }
    fields.update(changes)
    return fields


pack = msgpack.packb
HEAD = bytes(32)
PEER = bytes(32)


def status(**changes: Any) -> bytes:
    return pack({"t": "status", "height": 1, "head": HEAD, **changes})


def get_blocks(**changes: Any) -> bytes:
    return pack({"t": "get_blocks", "id": 1, "start": 0, "end": 1, **changes})


def peers(*entries: Any) -> bytes:
    return pack({"t": "peers", "id": 1, "peers": list(entries)})


def hello(**changes: Any) -> bytes:
    return pack(_hello_fields(**changes))


NO_CHALLENGE = {k: v for k, v in _hello_fields().items() if k != "challenge"}
MANY_PEERS = [[PEER, "h", 1]] * (MAX_PEERS_PER_MESSAGE + 1)

BAD_FRAMES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "not_msgpack"),
    ("invalid byte", b"\xc1", "not_msgpack"),
    ("truncated", status()[:-2], "not_msgpack"),
    ("trailing bytes", status() + b"\x00", "not_msgpack"),
    ("bad utf-8 key", b"\x81\xa1\xff\x01", "not_msgpack"),
    ("int key", pack({1: 2}), "not_msgpack"),
    ("a list", pack(["t", "status"]), "not_a_map"),
    ("a string", pack("status"), "not_a_map"),
    ("no kind", pack({"height": 1}), "unknown_kind"),
    ("unknown kind", pack({"t": "blocks2"}), "unknown_kind"),
    ("kind not a string", pack({"t": b"status"}), "unknown_kind"),
    ("height str", status(height="1"), "bad_field"),
    ("height float", status(height=1.0), "bad_field"),
    ("height bool", status(height=False), "bad_field"),
    ("height < 0", status(height=-5), "bad_field"),
    ("head short", status(head=bytes(31)), "bad_field"),
    ("head str", status(head="0" * 32), "bad_field"),
    ("head nil", status(head=None), "bad_field"),
    ("status no head", pack({"t": "status", "height": 1}), "missing_field"),
    ("txs empty", pack({"t": "txs", "txs": []}), "bad_field"),
    ("txs not list", pack({"t": "txs", "txs": b"abc"}), "bad_field"),
    ("txs item str", pack({"t": "txs", "txs": ["abc"]}), "bad_field"),
    ("txs item empty", pack({"t": "txs", "txs": [b""]}), "oversize"),
    ("txs item too big", pack({"t": "txs", "txs": [bytes(MAX_TX_SIZE + 1)]}), "oversize"),
    ("block empty", pack({"t": "block", "block": b""}), "oversize"),
    ("block as list", pack({"t": "block", "block": [1]}), "bad_field"),
    ("consensus ext", pack({"t": "consensus", "data": msgpack.ExtType(1, b"x")}), "bad_field"),
    ("range reversed", get_blocks(start=9, end=3), "bad_range"),
    ("range too long", get_blocks(start=0, end=256), "bad_range"),
    ("request id < 0", get_blocks(id=-1), "bad_field"),
    ("request id str", get_blocks(id="1"), "bad_field"),
    ("blocks not pairs", pack({"t": "blocks", "id": 1, "blocks": [[b"b"]]}), "bad_field"),
    ("blocks too many", pack({"t": "blocks", "id": 1, "blocks": [[b"b", b""]] * 257}), "oversize"),
    ("blocks commit str", pack({"t": "blocks", "id": 1, "blocks": [[b"b", ""]]}), "bad_field"),
    ("peers port 0", peers([PEER, "h", 0]), "bad_field"),
    ("peers host empty", peers([PEER, "", 1]), "bad_field"),
    ("peers host ctrl", peers([PEER, "a\nb", 1]), "bad_field"),
    ("peers id short", peers([bytes(31), "h", 1]), "bad_field"),
    ("peers too many", peers(*MANY_PEERS), "oversize"),
    ("error code long", pack({"t": "error", "id": 1, "code": "x" * 65}), "bad_field"),
    ("auth short sig", pack({"t": "auth", "sig": bytes(63)}), "bad_field"),
    ("hello extra", hello(agent="x"), "unexpected_field"),
    ("hello no challenge", pack(NO_CHALLENGE), "missing_field"),
    ("hello chain non-ascii", hello(chain="chaîne"), "bad_field"),
    ("hello chain too long", hello(chain="c" * 33), "bad_field"),
    ("hello port too big", hello(port=70000), "bad_field"),
    ("hello version huge", hello(v=2**32), "bad_field"),
    ("hello node 33 bytes", hello(node=bytes(33)), "bad_field"),
]


@pytest.mark.parametrize(
    ("frame", "code"), [(f, c) for _, f, c in BAD_FRAMES], ids=[n for n, _, _ in BAD_FRAMES]
)
def test_malformed_frames_are_refused_with_a_code(frame: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as exc:
        decode_frame(frame)
    assert exc.value.code == code


@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_anything_but_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_frame(data)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.binary(max_size=40)
    | st.text(max_size=10)
)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=20,
)
KINDS = ("hello", "auth", "txs", "block", "consensus", "status", "get_blocks", "blocks")
kinds = st.sampled_from((*KINDS, "get_peers", "peers", "error"))


@given(st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=6), kinds)
def test_random_envelopes_decode_or_raise_decode_error(body: dict[str, Any], kind: str) -> None:
    try:
        frame = decode_frame(pack({**body, "t": kind}))
    except DecodeError:
        return
    assert kind == frame.msg.KIND
    assert decode_frame(encode_frame(frame.msg, frame.request_id)) == frame
