"""Every ledger type encodes to bytes that decode back to an equal object."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from type_strategies import KINDS, blocks, commits, headers, proposals, transactions, votes

from node import crypto
from node.types import (
    ZERO_HASH,
    Block,
    BlockHeader,
    Commit,
    Proposal,
    Transaction,
    Vote,
    decode_transactions,
    tx_root,
)


def assert_round_trip(cls: Any, obj: Any) -> bytes:
    raw = obj.encode()
    back = cls.decode(raw)
    assert back == obj
    assert back.encode() == raw
    # the other buffer types decode the same
    assert cls.decode(bytearray(raw)) == obj
    assert cls.decode(memoryview(raw)) == obj
    return raw


@given(transactions)
def test_transaction_round_trip(tx: Transaction) -> None:
    raw = assert_round_trip(Transaction, tx)
    back = Transaction.decode(raw)
    assert back.id == tx.id == crypto.sha256(raw)
    assert back.size == len(raw)
    assert (back.chain_id, back.sender, back.nonce, back.recipient) == (
        tx.chain_id,
        tx.sender,
        tx.nonce,
        tx.recipient,
    )
    assert (back.amount, back.fee, back.data, back.signature) == (
        tx.amount,
        tx.fee,
        tx.data,
        tx.signature,
    )
    assert raw == tx.body() + tx.signature


@given(votes)
def test_vote_round_trip(vote: Vote) -> None:
    assert_round_trip(Vote, vote)


@given(commits)
def test_commit_round_trip(commit: Commit) -> None:
    raw = assert_round_trip(Commit, commit)
    assert Commit.decode(raw).hash == crypto.sha256(raw)
    assert [v.validator for v in commit.votes()] == sorted(v for v, _ in commit.signatures)


@given(proposals())
def test_proposal_round_trip(proposal: Proposal) -> None:
    assert_round_trip(Proposal, proposal)


@given(headers)
def test_header_round_trip(header: BlockHeader) -> None:
    raw = assert_round_trip(BlockHeader, header)
    assert BlockHeader.decode(raw).hash == crypto.sha256(raw)
    # the PoW nonce is the last 8 bytes: a miner hashes prefix() + nonce
    assert raw == header.prefix() + header.pow_nonce.to_bytes(8, "big")


@given(blocks())
def test_block_round_trip(block: Block) -> None:
    raw = assert_round_trip(Block, block)
    back = Block.decode(raw)
    assert back.hash == block.header.hash
    assert back.txs == block.txs
    assert back.last_commit == block.last_commit


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(data=st.data())
def test_equal_objects_have_equal_hashes(kind: str, data: st.DataObject) -> None:
    cls, strategy = KINDS[kind]
    obj = data.draw(strategy)
    assert hash(cls.decode(obj.encode())) == hash(obj)


def test_empty_commit_is_the_no_certificate_value() -> None:
    empty = Commit.empty()
    assert empty.is_empty and Commit.decode(empty.encode()).is_empty
    assert not Commit(height=0, round=1, block_hash=ZERO_HASH).is_empty


def test_block_body_check_names_what_does_not_match(sample_txs: list[Transaction]) -> None:
    commit = Commit(height=4, round=0, block_hash=b"\x07" * 32)
    header = BlockHeader(
        chain_id="c",
        height=5,
        timestamp_ms=1,
        prev_hash=ZERO_HASH,
        proposer=ZERO_HASH,
        tx_root=tx_root(sample_txs),
        state_root=ZERO_HASH,
        last_commit_hash=commit.hash,
        tx_count=len(sample_txs),
    )
    good = Block(header=header, txs=sample_txs, last_commit=commit)
    assert good.check_body() is None
    swapped = Block(header=header, txs=sample_txs[::-1], last_commit=commit)
    assert "tx_root" in (swapped.check_body() or "")
    no_commit = Block(header=header, txs=sample_txs)
    assert "last_commit_hash" in (no_commit.check_body() or "")


def test_tx_root_is_the_merkle_root_of_tx_ids(sample_txs: list[Transaction]) -> None:
    assert tx_root(sample_txs) == crypto.merkle_root([tx.id for tx in sample_txs])
    assert tx_root([]) == crypto.sha256(b"")


def test_block_refuses_a_body_that_differs_from_its_header(sample_txs: list[Transaction]) -> None:
    header = BlockHeader(
        chain_id="c",
        height=1,
        timestamp_ms=0,
        prev_hash=ZERO_HASH,
        proposer=ZERO_HASH,
        tx_root=ZERO_HASH,
        state_root=ZERO_HASH,
        tx_count=1,
    )
    with pytest.raises(ValueError, match="txs"):
        Block(header=header, txs=sample_txs)


def test_decode_transactions_keeps_each_failure_in_its_slot(sample_txs: list[Transaction]) -> None:
    raws = [sample_txs[0].encode(), b"\x01\x01a", sample_txs[1].encode()]
    out = decode_transactions(raws)
    assert out[0] == sample_txs[0] and out[2] == sample_txs[1]
    assert out[1].code == "truncated"  # type: ignore[union-attr]


def test_objects_are_immutable(sample_txs: list[Transaction]) -> None:
    with pytest.raises(AttributeError):
        sample_txs[0].amount = 5  # type: ignore[misc]


def test_json_views_name_the_fields(sample_txs: list[Transaction]) -> None:
    tx = sample_txs[0]
    view = tx.to_json()
    assert view["id"] == tx.id.hex() and view["amount"] == tx.amount
    assert view["size"] == len(tx.encode())
