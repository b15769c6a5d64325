"""The handshake's rules: what a Hello must match, and what each side signs.

Both sides send a Hello carrying a fresh 32-byte challenge, check the
other's Hello (``check_hello``), then send an Auth: an Ed25519 signature by
their node key over ``auth_message``, which binds the other side's
challenge, both node ids, the chain id and the genesis hash. A signature is
therefore good for one session with one peer on one chain only, and cannot
be replayed to another peer or later. The asyncio sequence that drives
these rules lives in transport.py; this module is pure.
"""

from __future__ import annotations

from node import crypto
from node.codec import name8
from node.p2p.messages import PROTOCOL_VERSION, Hello

AUTH_DOMAIN = b"ordinet/p2p-auth/v1\x00"

# Refusal reasons: the ``reason=`` of the log line and the close message.
PROTOCOL_VERSION_MISMATCH = "protocol_version_mismatch"
CHAIN_ID_MISMATCH = "chain_id_mismatch"
GENESIS_MISMATCH = "genesis_mismatch"
SELF_CONNECTION = "self_connection"
BAD_SIGNATURE = "bad_signature"
BAD_HANDSHAKE = "bad_handshake"
HANDSHAKE_TIMEOUT = "handshake_timeout"
DUPLICATE = "duplicate_connection"
BANNED = "banned"
BLOCKED = "blocked"
TOO_MANY_PEERS = "too_many_peers"
SHUTTING_DOWN = "shutting_down"
CONNECTION_LOST = "connection_lost"

# Reasons that say the peer is on another network: not worth dialling again.
WRONG_NETWORK = frozenset({PROTOCOL_VERSION_MISMATCH, CHAIN_ID_MISMATCH, GENESIS_MISMATCH})


def check_hello(hello: Hello, *, chain_id: str, genesis_hash: bytes, node_id: bytes) -> str | None:
    """None when ``hello`` may go on to authentication, else the refusal reason."""
    if hello.protocol_version != PROTOCOL_VERSION:
        return PROTOCOL_VERSION_MISMATCH
    if hello.chain_id != chain_id:
        return CHAIN_ID_MISMATCH
    if hello.genesis_hash != genesis_hash:
        return GENESIS_MISMATCH
    if hello.node_id == node_id:
        return SELF_CONNECTION
    return None


def auth_message(
    *,
    chain_id: str,
    genesis_hash: bytes,
    signer_id: bytes,
    peer_id: bytes,
    peer_challenge: bytes,
    signer_challenge: bytes,
) -> bytes:
    """What ``signer_id`` signs to prove its key to ``peer_id`` in one session."""
    return (
        AUTH_DOMAIN
        + name8(chain_id.encode("ascii"))
        + genesis_hash
        + signer_id
        + peer_id
        + peer_challenge
        + signer_challenge
    )


def sign_auth(seed: bytes, mine: Hello, theirs: Hello) -> bytes:
    """My Auth signature in the session where I sent ``mine`` and got ``theirs``."""
    return crypto.sign(
        seed,
        auth_message(
            chain_id=mine.chain_id,
            genesis_hash=mine.genesis_hash,
            signer_id=mine.node_id,
            peer_id=theirs.node_id,
            peer_challenge=theirs.challenge,
            signer_challenge=mine.challenge,
        ),
    )


def verify_auth(signature: bytes, mine: Hello, theirs: Hello) -> bool:
    """True when ``signature`` is the key of ``theirs.node_id`` answering my challenge."""
    return crypto.verify(
        theirs.node_id,
        auth_message(
            chain_id=mine.chain_id,
            genesis_hash=mine.genesis_hash,
            signer_id=theirs.node_id,
            peer_id=mine.node_id,
            peer_challenge=mine.challenge,
            signer_challenge=theirs.challenge,
        ),
        signature,
    )


def keeps_new_connection(
    *, my_id: bytes, peer_id: bytes, new_outbound: bool, old_outbound: bool
) -> bool:
    """Which of two connections between the same pair of nodes survives.

    Both ends apply this rule to the same pair of connections and agree:
    the survivor is the one dialled by the node with the lower id. When both
    were dialled by the same side, the older one stays.
    """
    if new_outbound == old_outbound:
        return False
    dialled_by_me = new_outbound
    i_am_lower = my_id < peer_id
    return dialled_by_me == i_am_lower
