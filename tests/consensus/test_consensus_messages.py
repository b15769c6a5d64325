"""Consensus messages: canonical encoding and strict decoding."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import crypto
from node.consensus.messages import (
    BlockMsg,
    ProposalMsg,
    SkipMsg,
    StatusMsg,
    VoteMsg,
    decode_message,
)
from node.errors import DecodeError
from node.types import (
    PRECOMMIT,
    PREVOTE,
    ZERO_HASH,
    Block,
    BlockHeader,
    Proposal,
    Vote,
    tx_root,
)

SEED = crypto.sha256(b"msg-test")
KEY = crypto.keypair_from_seed(SEED)[1]


def _block(height: int = 1) -> Block:
    header = BlockHeader(
        chain_id="c",
        height=height,
        timestamp_ms=5,
        prev_hash=crypto.sha256(b"p"),
        proposer=KEY,
        tx_root=tx_root([]),
        state_root=crypto.sha256(b"s"),
    )
    return Block(header=header).signed(SEED)


def _vote(kind: int = PREVOTE, block_hash: bytes = ZERO_HASH, round_: int = 0) -> Vote:
    return Vote(kind=kind, height=1, round=round_, block_hash=block_hash, validator=KEY).signed(
        "c", SEED
    )


def _all_messages() -> list:
    block = _block()
    proposal = Proposal(
        height=1, round=0, pol_round=-1, block_hash=block.hash, proposer=KEY
    ).signed("c", SEED)
    return [
        ProposalMsg(proposal, block),
        VoteMsg(_vote(PRECOMMIT, block.hash)),
        StatusMsg(7, 2, block.hash, work=2**200 + 5),
        BlockMsg(block),
        SkipMsg(_vote(PREVOTE, ZERO_HASH, 3), -1, None),
        SkipMsg(_vote(PREVOTE, block.hash, 3), 1, block),
    ]


@pytest.mark.parametrize("msg", _all_messages(), ids=lambda m: type(m).__name__)
def test_round_trip(msg) -> None:
    raw = msg.encode()
    again = decode_message(raw)
    assert type(again) is type(msg)
    assert again == msg
    assert again.encode() == raw
    assert again.digest == crypto.sha256(raw)


@pytest.mark.parametrize("msg", _all_messages(), ids=lambda m: type(m).__name__)
def test_truncated_and_trailing_bytes_are_refused(msg) -> None:
    raw = msg.encode()
    for cut in (1, len(raw) // 2, len(raw) - 1):
        with pytest.raises(DecodeError):
            decode_message(raw[:cut])
    with pytest.raises(DecodeError) as info:
        decode_message(raw + b"\x00")
    assert info.value.code == "trailing_bytes"


def test_unknown_tag_and_empty_input() -> None:
    with pytest.raises(DecodeError) as info:
        decode_message(b"\x63" + bytes(10))
    assert info.value.code == "unknown_tag"
    with pytest.raises(DecodeError):
        decode_message(b"")


def test_proposal_naming_another_block_is_refused() -> None:
    block, other = _block(1), _block(2)
    proposal = Proposal(height=1, round=0, pol_round=-1, block_hash=other.hash, proposer=KEY)
    raw = b"\x01" + proposal.encode() + len(block.encode()).to_bytes(4, "big") + block.encode()
    with pytest.raises(DecodeError):
        decode_message(raw)
    with pytest.raises(ValueError):
        ProposalMsg(proposal, block)


def test_skip_must_carry_the_block_its_vote_names() -> None:
    block = _block()
    with pytest.raises(ValueError):
        SkipMsg(_vote(PREVOTE, block.hash, 2), 1, None)
    with pytest.raises(ValueError):
        SkipMsg(_vote(PREVOTE, block.hash, 2), 2, block)  # accepted round must be < round


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_only_ever_raises_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_message(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(range(len(_all_messages()))), st.integers(0, 10_000), st.integers(0, 255))
def test_flipped_byte_never_escapes_as_another_error(index: int, pos: int, value: int) -> None:
    raw = bytearray(_all_messages()[index].encode())
    raw[pos % len(raw)] = value
    try:
        msg = decode_message(bytes(raw))
    except DecodeError:
        return
    assert msg.encode() == bytes(raw)  # if it decodes, it is canonical
