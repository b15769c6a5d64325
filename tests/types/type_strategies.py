"""Hypothesis strategies for valid ledger objects (shared by tests/types)."""

from __future__ import annotations

from hypothesis import strategies as st

from node.codec import MAX_NAME_LEN
from node.types import (
    MAX_TX_DATA,
    PRECOMMIT,
    PREVOTE,
    Block,
    BlockHeader,
    Commit,
    Proposal,
    Transaction,
    Vote,
)

U64 = st.integers(0, 2**64 - 1)
U32 = st.integers(0, 2**32 - 1)
hashes = st.binary(min_size=32, max_size=32)
addresses = hashes
signatures = st.binary(min_size=64, max_size=64)
names = st.from_regex(rf"[A-Za-z0-9._\-]{{1,{MAX_NAME_LEN}}}", fullmatch=True)
policies = st.one_of(st.just(""), names)

transactions = st.builds(
    Transaction,
    chain_id=names,
    sender=addresses,
    nonce=U64,
    recipient=addresses,
    amount=U64,
    fee=U64,
    data=st.one_of(
        st.binary(max_size=40), st.binary(min_size=MAX_TX_DATA - 8, max_size=MAX_TX_DATA)
    ),
    signature=signatures,
)

votes = st.builds(
    Vote,
    kind=st.sampled_from([PREVOTE, PRECOMMIT]),
    height=U64,
    round=U32,
    block_hash=hashes,
    validator=addresses,
    signature=signatures,
)

commits = st.builds(
    Commit,
    height=U64,
    round=U32,
    block_hash=hashes,
    signatures=st.dictionaries(addresses, signatures, max_size=5).map(lambda d: list(d.items())),
)


@st.composite
def proposals(draw: st.DrawFn) -> Proposal:
    round_ = draw(U32)
    pol_round = (
        draw(st.one_of(st.just(-1), st.integers(0, min(max(round_ - 1, 0), 2**31 - 1))))
        if round_
        else -1
    )
    return Proposal(
        height=draw(U64),
        round=round_,
        pol_round=pol_round,
        block_hash=draw(hashes),
        proposer=draw(addresses),
        signature=draw(signatures),
    )


def header_fields(tx_count: int) -> st.SearchStrategy[BlockHeader]:
    return st.builds(
        BlockHeader,
        chain_id=names,
        height=U64,
        timestamp_ms=U64,
        prev_hash=hashes,
        proposer=addresses,
        tx_root=hashes,
        state_root=hashes,
        last_commit_hash=hashes,
        tx_count=st.just(tx_count),
        policy=policies,
        model_hash=hashes,
        pow_target=hashes,
        pow_nonce=U64,
    )


headers = st.integers(0, 100_000).flatmap(header_fields)


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    txs = draw(st.lists(transactions, max_size=3))
    return Block(
        header=draw(header_fields(len(txs))),
        txs=txs,
        signature=draw(signatures),
        last_commit=draw(st.one_of(st.just(Commit.empty()), commits)),
    )


# every decodable type with a strategy for it
KINDS = {
    "transaction": (Transaction, transactions),
    "vote": (Vote, votes),
    "commit": (Commit, commits),
    "proposal": (Proposal, proposals()),
    "header": (BlockHeader, headers),
    "block": (Block, blocks()),
}
