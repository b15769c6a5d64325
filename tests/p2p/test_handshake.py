"""The handshake's rules: Hello checks, session-bound signatures, and the
rule that picks one of two connections between the same nodes."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node import crypto
from node.p2p import handshake as hs
from node.p2p.messages import PROTOCOL_VERSION, Hello

CHAIN = "hs-test"
GENESIS = crypto.sha256(b"genesis")


def hello_for(seed: bytes, **changes: object) -> Hello:
    _, node_id = crypto.keypair_from_seed(seed)
    fields: dict[str, object] = {
        "protocol_version": PROTOCOL_VERSION,
        "chain_id": CHAIN,
        "genesis_hash": GENESIS,
        "node_id": node_id,
        "listen_host": "127.0.0.1",
        "listen_port": 9000,
        "height": 3,
        "head_hash": bytes(32),
        "challenge": os.urandom(32),
    }
    fields.update(changes)
    return Hello(**fields)  # type: ignore[arg-type]


ME, PEER = os.urandom(32), os.urandom(32)


def check(theirs: Hello) -> str | None:
    mine = hello_for(ME)
    return hs.check_hello(theirs, chain_id=CHAIN, genesis_hash=GENESIS, node_id=mine.node_id)


def test_a_hello_of_the_same_network_passes() -> None:
    assert check(hello_for(PEER)) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"protocol_version": PROTOCOL_VERSION + 1}, hs.PROTOCOL_VERSION_MISMATCH),
        ({"chain_id": "other"}, hs.CHAIN_ID_MISMATCH),
        ({"genesis_hash": crypto.sha256(b"other")}, hs.GENESIS_MISMATCH),
    ],
)
def test_a_hello_of_another_network_is_refused(changes: dict[str, object], reason: str) -> None:
    assert check(hello_for(PEER, **changes)) == reason
    assert reason in hs.WRONG_NETWORK


def test_my_own_hello_coming_back_is_a_self_connection() -> None:
    assert check(hello_for(ME)) == hs.SELF_CONNECTION


def test_each_side_verifies_the_others_signature_over_its_own_challenge() -> None:
    mine, theirs = hello_for(ME), hello_for(PEER)
    their_sig = hs.sign_auth(PEER, theirs, mine)  # what the peer sends me
    my_sig = hs.sign_auth(ME, mine, theirs)
    assert hs.verify_auth(their_sig, mine, theirs)
    assert hs.verify_auth(my_sig, theirs, mine)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda mine, theirs: (replace(mine, challenge=os.urandom(32)), theirs),  # another session
        lambda mine, theirs: (mine, replace(theirs, challenge=os.urandom(32))),
        lambda mine, theirs: (replace(mine, chain_id="other"), theirs),
        lambda mine, theirs: (replace(mine, genesis_hash=bytes(32)), theirs),
        lambda mine, theirs: (hello_for(os.urandom(32), challenge=mine.challenge), theirs),
    ],
    ids=["my challenge", "their challenge", "chain id", "genesis", "another verifier"],
)
def test_a_signature_is_bound_to_one_session(tamper: object) -> None:
    mine, theirs = hello_for(ME), hello_for(PEER)
    their_sig = hs.sign_auth(PEER, theirs, mine)
    mine2, theirs2 = tamper(mine, theirs)  # type: ignore[operator]
    assert not hs.verify_auth(their_sig, mine2, theirs2)


def test_a_signature_by_another_key_is_refused() -> None:
    mine, theirs = hello_for(ME), hello_for(PEER)
    forged = hs.sign_auth(os.urandom(32), theirs, mine)
    assert not hs.verify_auth(forged, mine, theirs)
    assert not hs.verify_auth(bytes(64), mine, theirs)


def test_the_auth_message_is_domain_separated() -> None:
    msg = hs.auth_message(
        chain_id=CHAIN,
        genesis_hash=GENESIS,
        signer_id=bytes(32),
        peer_id=bytes(32),
        peer_challenge=bytes(32),
        signer_challenge=bytes(32),
    )
    assert msg.startswith(hs.AUTH_DOMAIN)


ids = st.binary(min_size=32, max_size=32)


@given(ids, ids, st.booleans(), st.booleans())
def test_both_ends_keep_the_same_one_of_two_connections(
    a: bytes, b: bytes, new_out_at_a: bool, old_out_at_a: bool
) -> None:
    """A link dialled by A is outbound at A and inbound at B: both ends
    decide on the same pair of links and must choose the same one."""
    keep_at_a = hs.keeps_new_connection(
        my_id=a, peer_id=b, new_outbound=new_out_at_a, old_outbound=old_out_at_a
    )
    keep_at_b = hs.keeps_new_connection(
        my_id=b, peer_id=a, new_outbound=not new_out_at_a, old_outbound=not old_out_at_a
    )
    if a != b:
        assert keep_at_a == keep_at_b
    if new_out_at_a == old_out_at_a:
        assert not keep_at_a  # same dialler twice: the older link stays
    elif a != b:
        new_dialler = a if new_out_at_a else b
        assert keep_at_a == (new_dialler == min(a, b))
