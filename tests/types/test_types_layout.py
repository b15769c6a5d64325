"""The byte layouts of docs/PROTOCOL.md, read back at their documented offsets."""

from __future__ import annotations

import struct

from node.types import (
    PRECOMMIT,
    PROPOSAL_DOMAIN,
    TX_DOMAIN,
    VOTE_DOMAIN,
    ZERO_HASH,
    BlockHeader,
    Commit,
    Proposal,
    Transaction,
    Vote,
)
from node.wallet import Wallet


def test_transaction_layout(alice: Wallet) -> None:
    tx = alice.transfer(to=b"\x02" * 32, amount=7, fee=3, nonce=9, chain_id="abc", data=b"xy")
    raw = tx.encode()
    c, d = 3, 2
    assert len(raw) == 156 + c + d
    assert raw[0] == 1 and raw[1] == c and raw[2 : 2 + c] == b"abc"
    assert raw[2 + c : 34 + c] == alice.address
    assert struct.unpack_from(">Q", raw, 34 + c) == (9,)
    assert raw[42 + c : 74 + c] == b"\x02" * 32
    assert struct.unpack_from(">QQH", raw, 74 + c) == (7, 3, d)
    assert raw[92 + c : 92 + c + d] == b"xy"
    assert raw[92 + c + d :] == tx.signature
    assert tx.signing_message() == TX_DOMAIN + raw[: 92 + c + d]


def test_header_layout() -> None:
    h = BlockHeader(
        chain_id="abc",
        height=5,
        timestamp_ms=6,
        prev_hash=b"\x01" * 32,
        proposer=b"\x02" * 32,
        tx_root=b"\x03" * 32,
        state_root=b"\x04" * 32,
        last_commit_hash=b"\x05" * 32,
        tx_count=0,
        policy="fee",
        model_hash=b"\x06" * 32,
        pow_target=b"\x07" * 32,
        pow_nonce=8,
    )
    raw = h.encode()
    c, p = 3, 3
    assert len(raw) == 255 + c + p and raw[:1] == b"\x01"
    assert struct.unpack_from(">QQ", raw, 2 + c) == (5, 6)
    for i, offset in enumerate((18, 50, 82, 114, 146), start=1):
        assert raw[offset + c : offset + c + 32] == bytes([i]) * 32
    assert struct.unpack_from(">I", raw, 178 + c) == (0,)
    assert raw[182 + c] == p and raw[183 + c : 183 + c + p] == b"fee"
    assert raw[183 + c + p : 215 + c + p] == b"\x06" * 32
    assert raw[215 + c + p : 247 + c + p] == b"\x07" * 32
    assert raw[247 + c + p :] == (8).to_bytes(8, "big") and h.prefix() == raw[: 247 + c + p]


def test_vote_commit_and_proposal_layouts(alice: Wallet) -> None:
    vote = Vote(kind=PRECOMMIT, height=4, round=2, block_hash=b"\x09" * 32, validator=alice.address)
    vote = vote.signed("abc", alice.seed)
    raw = vote.encode()
    assert len(raw) == 142 and struct.unpack_from(">BBQI", raw) == (1, 2, 4, 2)
    assert raw[14:46] == b"\x09" * 32 and raw[46:78] == alice.address and raw[78:] == vote.signature
    assert vote.sign_bytes("abc") == VOTE_DOMAIN + b"\x03abc" + raw[1:46]
    commit = Commit(
        height=4, round=2, block_hash=b"\x09" * 32, signatures=[(alice.address, vote.signature)]
    )
    raw = commit.encode()
    assert len(raw) == 46 + 96 and struct.unpack_from(">QI", raw) == (4, 2)
    assert raw[12:44] == b"\x09" * 32 and struct.unpack_from(">H", raw, 44) == (1,)
    assert raw[46:] == alice.address + vote.signature
    assert commit.votes()[0].verify("abc")  # a commit signature IS a precommit signature
    proposal = Proposal(
        height=4, round=3, pol_round=-1, block_hash=ZERO_HASH, proposer=alice.address
    )
    raw = proposal.encode()
    assert len(raw) == 145 and struct.unpack_from(">BQIi", raw) == (1, 4, 3, -1)
    assert proposal.sign_bytes("abc") == PROPOSAL_DOMAIN + b"\x03abc" + raw[1:81]


def test_transaction_fields_decode_from_a_hand_made_encoding(alice: Wallet) -> None:
    body = b"\x01\x01z" + alice.address + struct.pack(">Q", 1) + b"\x05" * 32
    body += struct.pack(">QQH", 10, 2, 0)
    tx = Transaction.decode(body + b"\x00" * 64)
    assert (tx.chain_id, tx.nonce, tx.amount, tx.fee, tx.data) == ("z", 1, 10, 2, b"")
