"""Type stubs of ``node._core``, the Rust extension module (``rust_core/``).

Use it through :mod:`node.crypto`, which documents the semantics. Every
``bytes``-like argument accepts ``bytes``, ``bytearray``, ``memoryview`` or
another buffer of unsigned bytes. Wrong lengths and out-of-range indices
raise ``ValueError``; an object of the wrong type raises ``TypeError``.
Batch calls copy their input (a ``bytes`` object is read in place: it
cannot change, and the call holds a reference to it), then release the GIL
while they work.
"""

from collections.abc import Iterable
from typing import Final, TypeAlias

_BytesLike: TypeAlias = bytes | bytearray | memoryview

HASH_SIZE: Final[int]
SEED_SIZE: Final[int]
PUBLIC_KEY_SIZE: Final[int]
SIGNATURE_SIZE: Final[int]

def sha256(data: _BytesLike) -> bytes:
    """SHA-256 of a bytes-like object."""

def sha256_many(items: Iterable[_BytesLike]) -> list[bytes]:
    """SHA-256 of every item, in order, as a list of 32-byte digests."""

def sha256_many_packed(buf: _BytesLike, item_size: int) -> bytes:
    """Digests of the consecutive ``item_size``-byte items of ``buf``, back to
    back in one bytes object of ``32 * n`` bytes.

    Raises ``ValueError`` if ``item_size`` is not positive or ``len(buf)`` is
    not a multiple of it.
    """

def merkle_root(items: Iterable[_BytesLike]) -> bytes:
    """RFC 6962 Merkle root of the leaf data ``items`` (``SHA-256(b"")`` when
    there are none)."""

def merkle_root_packed(buf: _BytesLike, item_size: int) -> bytes:
    """RFC 6962 Merkle root over the consecutive ``item_size``-byte items of
    ``buf``; ``ValueError`` as for :func:`sha256_many_packed`."""

def merkle_proof(items: Iterable[_BytesLike], index: int) -> list[bytes]:
    """RFC 6962 audit path of leaf ``index``, from the leaf's sibling up to
    the root's children; ``ValueError`` unless ``0 <= index < len(items)``."""

def verify_merkle_proof(
    item: _BytesLike,
    index: int,
    size: int,
    proof: Iterable[_BytesLike],
    root: _BytesLike,
) -> bool:
    """Whether ``proof`` shows ``item`` is leaf ``index`` of the ``size``-leaf
    tree with this ``root``.

    ``False`` for every proof that does not verify (wrong leaf, sibling,
    index, size or length, ``index >= size``); ``ValueError`` only when a
    proof element or the root is not 32 bytes.
    """

def keypair_from_seed(seed: _BytesLike) -> tuple[bytes, bytes]:
    """``(seed, public_key)`` for a 32-byte seed; ``ValueError`` for another length."""

def sign(seed: _BytesLike, msg: _BytesLike) -> bytes:
    """The 64-byte Ed25519 signature (RFC 8032, deterministic) of ``msg``
    under a 32-byte seed."""

def verify(public_key: _BytesLike, msg: _BytesLike, sig: _BytesLike) -> bool:
    """Whether ``sig`` is a valid Ed25519 signature of ``msg`` by
    ``public_key`` under ZIP-215 rules.

    Returns ``False`` (does not raise) for any invalid signature, including a
    public key that is not the encoding of a curve point. Raises
    ``ValueError`` only if the key is not 32 bytes or the signature not 64.
    """

def verify_batch(
    public_keys: Iterable[_BytesLike],
    msgs: Iterable[_BytesLike],
    sigs: Iterable[_BytesLike],
) -> list[bool]:
    """For each entry ``i``, whether ``sigs[i]`` is a valid signature of
    ``msgs[i]`` by ``public_keys[i]``: exactly what :func:`verify` says, entry
    by entry.

    Raises ``ValueError`` if the three sequences differ in length, or naming
    the index of a key that is not 32 bytes or a signature that is not 64.
    """

def pow_search(prefix: _BytesLike, target: _BytesLike, start_nonce: int, count: int) -> int | None:
    """The smallest nonce ``n`` in ``[start_nonce, start_nonce + count)`` with
    ``SHA-256(prefix || n.to_bytes(8, "big")) <= target`` (256-bit big-endian
    integers), or ``None``.

    Raises ``ValueError`` if ``target`` is not 32 bytes or the nonce range
    does not fit in ``[0, 2**64)``.
    """
