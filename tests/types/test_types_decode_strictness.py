"""Decoding is strict: anything but a canonical encoding is a DecodeError.

For every type: random bytes, bit flips, truncations, appended bytes and
rewritten length fields either raise DecodeError (never another
exception) or decode to an object whose encoding is exactly the input.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from type_strategies import KINDS, transactions

from node.errors import DecodeError
from node.types import (
    MAX_BLOCK_TXS,
    MAX_COMMIT_SIGNATURES,
    MAX_TX_DATA,
    MAX_TX_SIZE,
    ZERO_HASH,
    Block,
    BlockHeader,
    Commit,
    Proposal,
    Transaction,
    Vote,
)

KIND_NAMES = sorted(KINDS)
VERSIONED = [k for k in KIND_NAMES if k != "commit"]


def decode_strictly(cls: Any, raw: bytes) -> Any:
    """Decode ``raw``: a DecodeError, or an object that re-encodes to ``raw``."""
    try:
        obj = cls.decode(raw)
    except DecodeError as exc:
        assert exc.code != "error" and str(exc)
        return None
    assert obj.encode() == raw, "a non-canonical encoding was accepted"
    return obj


def length_fields(kind: str, obj: Any) -> list[tuple[int, int]]:
    """(offset, width) of every length or count field in ``obj``'s encoding."""
    if kind == "transaction":
        c = len(obj.chain_id)
        return [(1, 1), (2 + c + 88, 2)]
    if kind == "commit":
        return [(44, 2)]
    if kind == "header":
        c = len(obj.chain_id)
        return [(1, 1), (2 + c + 180, 1)]
    if kind == "block":
        c = len(obj.header.chain_id)
        # in a block the header's tx_count must also match the body
        head = [*length_fields("header", obj.header), (2 + c + 180 - 4, 4)]
        pos = len(obj.header.encode()) + 64
        fields = [*head, (pos + 44, 2)]
        pos += len(obj.last_commit.encode())
        fields.append((pos, 4))
        pos += 4
        for tx in obj.txs:
            fields.append((pos, 4))
            inner = [(pos + 4 + o, w) for o, w in length_fields("transaction", tx)]
            fields.extend(inner)
            pos += 4 + tx.size
        return fields
    return []


@pytest.mark.parametrize("kind", KIND_NAMES)
@given(raw=st.binary(max_size=600))
def test_random_bytes_raise_only_decode_error(kind: str, raw: bytes) -> None:
    decode_strictly(KINDS[kind][0], raw)


@pytest.mark.parametrize("kind", KIND_NAMES)
@given(data=st.data())
def test_bit_flips_raise_only_decode_error(kind: str, data: st.DataObject) -> None:
    cls, strategy = KINDS[kind]
    raw = bytearray(data.draw(strategy).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        bit = data.draw(st.integers(0, len(raw) * 8 - 1))
        raw[bit // 8] ^= 1 << (bit % 8)
    decode_strictly(cls, bytes(raw))


@pytest.mark.parametrize("kind", KIND_NAMES)
@given(data=st.data())
def test_every_truncation_is_refused(kind: str, data: st.DataObject) -> None:
    cls, strategy = KINDS[kind]
    raw = data.draw(strategy).encode()
    for n in range(len(raw)):
        with pytest.raises(DecodeError):
            cls.decode(raw[:n])


@pytest.mark.parametrize("kind", KIND_NAMES)
@given(data=st.data(), extra=st.binary(min_size=1, max_size=40))
def test_appended_bytes_are_refused(kind: str, data: st.DataObject, extra: bytes) -> None:
    cls, strategy = KINDS[kind]
    with pytest.raises(DecodeError) as info:
        cls.decode(data.draw(strategy).encode() + extra)
    assert info.value.code == "trailing_bytes"


@pytest.mark.parametrize("kind", ["transaction", "commit", "header", "block"])
@given(data=st.data())
def test_rewritten_length_fields_are_refused(kind: str, data: st.DataObject) -> None:
    cls, strategy = KINDS[kind]
    obj = data.draw(strategy)
    raw = obj.encode()
    fields = length_fields(kind, obj)
    offset, width = data.draw(st.sampled_from(fields))
    old = int.from_bytes(raw[offset : offset + width], "big")
    new = data.draw(st.integers(0, 2 ** (8 * width) - 1).filter(lambda v: v != old))
    mutated = raw[:offset] + new.to_bytes(width, "big") + raw[offset + width :]
    assert decode_strictly(cls, mutated) is None


@pytest.mark.parametrize("kind", VERSIONED)
@given(data=st.data(), version=st.integers(0, 255).filter(lambda v: v != 1))
def test_unknown_versions_are_refused(kind: str, data: st.DataObject, version: int) -> None:
    cls, strategy = KINDS[kind]
    raw = data.draw(strategy).encode()
    with pytest.raises(DecodeError) as info:
        cls.decode(bytes([version]) + raw[1:])
    assert info.value.code == "unknown_version"


# -- oversize and malformed fields -------------------------------------------


def test_oversize_tx_data_is_refused_by_decode_and_constructor(
    sample_txs: list[Transaction],
) -> None:
    tx = sample_txs[0]
    body = tx.body()
    c = len(tx.chain_id)
    at = 2 + c + 88
    big = body[:at] + struct.pack(">H", MAX_TX_DATA + 1) + bytes(MAX_TX_DATA + 1) + tx.signature
    with pytest.raises(DecodeError) as info:
        Transaction.decode(big)
    assert info.value.code == "oversize"
    with pytest.raises(ValueError):
        tx.replace(data=bytes(MAX_TX_DATA + 1))
    assert tx.replace(data=bytes(MAX_TX_DATA)).size <= MAX_TX_SIZE


def test_overlong_or_bad_chain_ids_are_refused(sample_txs: list[Transaction]) -> None:
    raw = sample_txs[0].encode()
    c = raw[1]
    rest = raw[2 + c :]
    for name, code in [
        (b"x" * 33, "oversize"),
        (b"", "bad_name"),
        (b"a b", "bad_name"),
        (b"\xff", "bad_name"),
    ]:
        with pytest.raises(DecodeError) as info:
            Transaction.decode(raw[:1] + bytes([len(name)]) + name + rest)
        assert info.value.code == code
    for bad in ["x" * 33, "", "a b", "café"]:
        with pytest.raises(ValueError):
            sample_txs[0].replace(chain_id=bad)


def _commit_bytes(sigs: list[tuple[bytes, bytes]], count: int | None = None) -> bytes:
    n = len(sigs) if count is None else count
    return struct.pack(">QI32sH", 3, 0, b"\x05" * 32, n) + b"".join(v + s for v, s in sigs)


def test_commits_with_unsorted_or_duplicate_signers_are_not_canonical() -> None:
    a, b = (b"\x01" * 32, b"\xaa" * 64), (b"\x02" * 32, b"\xbb" * 64)
    assert Commit.decode(_commit_bytes([a, b])).signatures == (a, b)
    for sigs in ([b, a], [a, a], [a, (a[0], b"\xcc" * 64)]):
        with pytest.raises(DecodeError) as info:
            Commit.decode(_commit_bytes(sigs))
        assert info.value.code == "non_canonical"
    with pytest.raises(ValueError, match="one signature per validator"):
        Commit(height=3, round=0, block_hash=ZERO_HASH, signatures=[a, (a[0], b"\xcc" * 64)])
    # the constructor sorts, so any order of the same signers is one commit
    assert Commit(height=3, round=0, block_hash=ZERO_HASH, signatures=[b, a]) == Commit(
        height=3, round=0, block_hash=ZERO_HASH, signatures=[a, b]
    )


def test_commit_with_too_many_signatures_is_oversize() -> None:
    with pytest.raises(DecodeError) as info:
        Commit.decode(_commit_bytes([], count=MAX_COMMIT_SIGNATURES + 1))
    assert info.value.code == "oversize"


def test_header_with_too_many_txs_is_oversize() -> None:
    header = BlockHeader(
        chain_id="c",
        height=1,
        timestamp_ms=0,
        prev_hash=ZERO_HASH,
        proposer=ZERO_HASH,
        tx_root=ZERO_HASH,
        state_root=ZERO_HASH,
        tx_count=MAX_BLOCK_TXS,
    )
    raw = bytearray(header.encode())
    at = 2 + 1 + 180 - 4
    raw[at : at + 4] = struct.pack(">I", MAX_BLOCK_TXS + 1)
    with pytest.raises(DecodeError) as info:
        BlockHeader.decode(bytes(raw))
    assert info.value.code == "oversize"
    with pytest.raises(ValueError):
        header.replace(tx_count=MAX_BLOCK_TXS + 1)


def _block_with(txs: list[Transaction]) -> Block:
    header = BlockHeader(
        chain_id="c",
        height=1,
        timestamp_ms=0,
        prev_hash=ZERO_HASH,
        proposer=ZERO_HASH,
        tx_root=ZERO_HASH,
        state_root=ZERO_HASH,
        tx_count=len(txs),
    )
    return Block(header=header, txs=txs)


def test_block_tx_length_beyond_the_tx_limit_is_oversize(sample_txs: list[Transaction]) -> None:
    block = _block_with(sample_txs[:1])
    raw = block.encode()
    at = len(raw) - sample_txs[0].size - 4
    mutated = raw[:at] + struct.pack(">I", MAX_TX_SIZE + 1) + raw[at + 4 :]
    with pytest.raises(DecodeError) as info:
        Block.decode(mutated)
    assert info.value.code == "oversize"


def test_block_whose_body_count_differs_from_its_header(sample_txs: list[Transaction]) -> None:
    raw = _block_with(sample_txs[:1]).encode()
    at = len(raw) - sample_txs[0].size - 8
    mutated = raw[:at] + struct.pack(">I", 2) + raw[at + 4 :]
    with pytest.raises(DecodeError) as info:
        Block.decode(mutated)
    assert info.value.code == "tx_count_mismatch"


def test_vote_kind_and_proposal_pol_round_must_be_known(sample_txs: list[Transaction]) -> None:
    vote = Vote(kind=1, height=1, round=0, block_hash=ZERO_HASH, validator=b"\x01" * 32)
    raw = vote.encode()
    with pytest.raises(DecodeError) as info:
        Vote.decode(raw[:1] + b"\x03" + raw[2:])
    assert info.value.code == "bad_vote_kind"
    proposal = Proposal(height=1, round=2, pol_round=1, block_hash=ZERO_HASH, proposer=ZERO_HASH)
    raw = proposal.encode()
    at = 1 + 8 + 4
    for pol_round in (2, 7, -2):
        with pytest.raises(DecodeError) as info:
            Proposal.decode(raw[:at] + struct.pack(">i", pol_round) + raw[at + 4 :])
        assert info.value.code == "non_canonical"
    with pytest.raises(ValueError):
        Proposal(height=1, round=2, pol_round=2, block_hash=ZERO_HASH, proposer=ZERO_HASH)


@given(transactions)
def test_non_bytes_input_is_a_decode_error(tx: Transaction) -> None:
    with pytest.raises(DecodeError):
        Transaction.decode(tx.encode().hex())  # type: ignore[arg-type]
