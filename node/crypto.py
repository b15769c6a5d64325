"""The cryptography of Ordinet: SHA-256, Merkle trees, Ed25519, proof of work.

This module is the public face of the Rust core (``node._core``, built from
``rust_core/``); the functions are the Rust ones, re-exported, so a call
costs no Python frame. What they promise:

Hashing
    ``sha256`` is plain SHA-256. ``sha256_many`` hashes a list of messages
    and ``sha256_many_packed`` one buffer of fixed-size records, each in one
    call: a per-message call cannot beat ``hashlib``, a batch can.

Merkle trees (RFC 6962, section 2.1)
    A leaf hashes as ``SHA-256(0x00 || data)``, an inner node as
    ``SHA-256(0x01 || left || right)``, so a leaf can never pose as a node.
    A tree of ``n > 1`` leaves splits at ``k``, the largest power of two
    below ``n``: the left subtree is complete and a lone last node is
    promoted to the level above, never paired with a copy of itself (the
    duplication that lets two different leaf lists share a root in
    Bitcoin). The root of no leaves is ``EMPTY_ROOT = SHA-256(b"")``.
    ``merkle_proof`` returns the audit path leaf-to-root; the tree size given
    to ``verify_merkle_proof`` must come from a trusted place (a block
    header), since the root does not commit to it.

Ed25519 (RFC 8032 keys and signatures, ZIP-215 verification)
    A key pair is derived from a 32-byte seed; signing is deterministic.
    Verification follows ZIP-215: the cofactored equation
    ``[8][s]B = [8]R + [8][k]A``, every point encoding that decodes accepted
    (non-canonical and small-order ones included), ``s`` required canonical.
    These rules are what make ``verify_batch`` and ``verify`` accept exactly
    the same signatures, so consensus never depends on which one a node
    used. libsodium (PyNaCl) is stricter on small-order and non-canonical
    points; on honestly made or randomly corrupted signatures both agree.

    ``verify`` returns a ``bool`` and never raises for a bad signature, not
    even for a public key that is not a curve point: to a verifier that is
    one more invalid signature, and the caller decides what it costs the
    sender. It raises ``ValueError`` only for arguments of the wrong length,
    which the codec rules out before a signature is ever checked.
    ``verify_batch`` returns one ``bool`` per entry, telling *which* entries
    are bad; a key or signature of the wrong length in a batch is a
    ``ValueError`` naming its index.

Proof of work
    ``pow_search(prefix, target, start_nonce, count)`` returns the smallest
    nonce ``n`` in the range with ``SHA-256(prefix || n as 8 big-endian
    bytes) <= target`` (as 256-bit big-endian integers), or ``None``; the
    answer does not depend on how many threads searched.

Threads
    Batch calls (``sha256_many*``, ``merkle_*``, ``verify_batch``,
    ``pow_search``) copy their input, release the GIL and use every core
    for large inputs; other Python threads run meanwhile. (A ``bytes``
    object, an argument or an element of a list, is read in place rather
    than copied: it cannot change, and the call holds a reference to it
    until it returns.)

Errors
    Wrong lengths, bad indices and ragged buffers raise ``ValueError``;
    objects that are not bytes-like (or not ints) raise ``TypeError``.
    Nothing here crashes the interpreter on bad input.
"""

from __future__ import annotations

import secrets
from typing import Final

from node import _core
from node._core import (
    keypair_from_seed,
    merkle_proof,
    merkle_root,
    merkle_root_packed,
    pow_search,
    sha256,
    sha256_many,
    sha256_many_packed,
    sign,
    verify,
    verify_batch,
    verify_merkle_proof,
)

HASH_SIZE: Final[int] = _core.HASH_SIZE
"""Length of a SHA-256 digest, a Merkle root and a proof element."""

PUBLIC_KEY_SIZE: Final[int] = _core.PUBLIC_KEY_SIZE
"""Length of an Ed25519 public key (an account address)."""

SEED_SIZE: Final[int] = _core.SEED_SIZE
"""Length of an Ed25519 seed, the private key of RFC 8032."""

SIGNATURE_SIZE: Final[int] = _core.SIGNATURE_SIZE
"""Length of an Ed25519 signature."""

EMPTY_ROOT: Final[bytes] = sha256(b"")
"""Merkle root of a tree without leaves."""


def generate_seed() -> bytes:
    """A fresh random seed from the operating system's CSPRNG."""
    return secrets.token_bytes(SEED_SIZE)


__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "PUBLIC_KEY_SIZE",
    "SEED_SIZE",
    "SIGNATURE_SIZE",
    "generate_seed",
    "keypair_from_seed",
    "merkle_proof",
    "merkle_root",
    "merkle_root_packed",
    "pow_search",
    "sha256",
    "sha256_many",
    "sha256_many_packed",
    "sign",
    "verify",
    "verify_batch",
    "verify_merkle_proof",
]
