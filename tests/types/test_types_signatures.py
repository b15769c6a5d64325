"""Signatures: real Ed25519 over domain-separated messages.

A signature made for one chain, or for one kind of object, never verifies
for another; any change to a signed field breaks it; the batch verifier
agrees with the single one.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import crypto
from node.types import (
    BLOCK_DOMAIN,
    PRECOMMIT,
    PREVOTE,
    PROPOSAL_DOMAIN,
    TX_DOMAIN,
    VOTE_DOMAIN,
    ZERO_HASH,
    Block,
    BlockHeader,
    Commit,
    Proposal,
    Transaction,
    Vote,
    verify_transactions,
)
from node.wallet import Wallet


def test_a_signed_transaction_verifies(sample_txs: list[Transaction], alice: Wallet) -> None:
    for tx in sample_txs:
        assert tx.verify()
        assert tx.signing_message() == TX_DOMAIN + tx.body()
        assert crypto.verify(alice.address, tx.signing_message(), tx.signature)


def test_signature_for_one_chain_fails_on_another(sample_txs: list[Transaction]) -> None:
    tx = sample_txs[0]
    moved = tx.replace(chain_id="another-chain")
    assert moved.signature == tx.signature
    assert not moved.verify()


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": 99},
        {"amount": 1},
        {"fee": 0},
        {"recipient": b"\x09" * 32},
        {"data": b"other"},
        {"sender": Wallet.from_seed(b"\x07" * 32).address},
    ],
)
def test_changing_any_signed_field_breaks_the_signature(
    sample_txs: list[Transaction], change: dict[str, object]
) -> None:
    assert not sample_txs[1].replace(**change).verify()


def test_unsigned_and_garbage_signatures_do_not_verify(sample_txs: list[Transaction]) -> None:
    tx = sample_txs[0]
    assert not tx.replace(signature=bytes(64)).verify()
    assert not tx.replace(signature=b"\xff" * 64).verify()


def test_batch_verification_agrees_with_single(sample_txs: list[Transaction]) -> None:
    txs = [*sample_txs, sample_txs[0].replace(amount=12345), sample_txs[2].replace(chain_id="z")]
    assert verify_transactions(txs) == [tx.verify() for tx in txs] == [True] * 3 + [False] * 2
    assert verify_transactions([]) == []


@settings(max_examples=25, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    chain_a=st.sampled_from(["a", "b", "ordinet-dev"]),
    chain_b=st.sampled_from(["a", "b", "ordinet-dev"]),
    nonce=st.integers(0, 2**64 - 1),
)
def test_domain_separation_by_chain(seed: bytes, chain_a: str, chain_b: str, nonce: int) -> None:
    w = Wallet.from_seed(seed)
    tx = w.transfer(to=b"\x03" * 32, amount=1, fee=1, nonce=nonce, chain_id=chain_a)
    assert tx.replace(chain_id=chain_b).verify() == (chain_a == chain_b)


def test_votes_are_bound_to_chain_and_kind(alice: Wallet) -> None:
    vote = Vote(kind=PREVOTE, height=3, round=1, block_hash=b"\x04" * 32, validator=alice.address)
    signed = vote.signed("chain-a", alice.seed)
    assert signed.verify("chain-a")
    assert not signed.verify("chain-b")
    as_precommit = Vote(
        kind=PRECOMMIT,
        height=3,
        round=1,
        block_hash=b"\x04" * 32,
        validator=alice.address,
        signature=signed.signature,
    )
    assert not as_precommit.verify("chain-a")
    assert signed.sign_bytes("chain-a").startswith(VOTE_DOMAIN)


def test_commit_signatures_are_precommits_checked_in_one_batch(alice: Wallet, bob: Wallet) -> None:
    block_hash = b"\x06" * 32
    precommits = [
        Vote(kind=PRECOMMIT, height=8, round=2, block_hash=block_hash, validator=w.address).signed(
            "c", w.seed
        )
        for w in (alice, bob)
    ]
    prevote = Vote(kind=PREVOTE, height=8, round=2, block_hash=block_hash, validator=bob.address)
    commit = Commit(
        height=8,
        round=2,
        block_hash=block_hash,
        signatures=[
            (precommits[0].validator, precommits[0].signature),
            (bob.address, prevote.signed("c", bob.seed).signature),
        ],
    )
    by_signer = dict(
        zip([v for v, _ in commit.signatures], commit.verify_signatures("c"), strict=True)
    )
    assert by_signer == {alice.address: True, bob.address: False}
    assert commit.verify_signatures("other") == [False, False]
    # the single verifier on the votes it is made of says the same
    assert {v.validator: v.verify("c") for v in commit.votes()} == by_signer


def test_proposal_and_block_signatures(alice: Wallet) -> None:
    proposal = Proposal(
        height=2, round=0, pol_round=-1, block_hash=b"\x05" * 32, proposer=alice.address
    ).signed("c", alice.seed)
    assert proposal.verify("c") and not proposal.verify("d")
    assert proposal.sign_bytes("c").startswith(PROPOSAL_DOMAIN)
    header = BlockHeader(
        chain_id="c",
        height=1,
        timestamp_ms=0,
        prev_hash=ZERO_HASH,
        proposer=alice.address,
        tx_root=ZERO_HASH,
        state_root=ZERO_HASH,
    )
    block = Block(header=header).signed(alice.seed)
    assert block.verify_signature()
    assert crypto.verify(alice.address, BLOCK_DOMAIN + block.hash, block.signature)
    # a proposal signature over the same hash is not a block signature
    assert not Block(header=header, signature=proposal.signature).verify_signature()
    # the block signature does not cover a changed header
    moved = Block(header=header.replace(timestamp_ms=1), signature=block.signature)
    assert not moved.verify_signature()
