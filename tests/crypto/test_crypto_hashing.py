"""SHA-256 from the Rust core equals hashlib's, one message or many."""

from __future__ import annotations

import array
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import crypto

FIPS_180_VECTORS = [
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ),
]


@pytest.mark.parametrize(("message", "digest"), FIPS_180_VECTORS)
def test_sha256_known_vectors(message: bytes, digest: str) -> None:
    assert crypto.sha256(message).hex() == digest


def test_constants() -> None:
    assert crypto.HASH_SIZE == 32
    assert crypto.PUBLIC_KEY_SIZE == 32
    assert crypto.SEED_SIZE == 32
    assert crypto.SIGNATURE_SIZE == 64
    assert hashlib.sha256(b"").digest() == crypto.EMPTY_ROOT


# Hypothesis deadlines are off throughout: the machines are shared, a loaded
# core can stretch any example, and these tests assert behaviour, not speed.
@settings(deadline=None)
@given(st.binary(max_size=300))
def test_sha256_matches_hashlib(data: bytes) -> None:
    assert crypto.sha256(data) == hashlib.sha256(data).digest()


def test_sha256_accepts_any_bytes_like_object() -> None:
    expected = hashlib.sha256(b"hello").digest()
    assert crypto.sha256(bytearray(b"hello")) == expected
    assert crypto.sha256(memoryview(b"xhellox")[1:-1]) == expected
    assert crypto.sha256(array.array("B", b"hello")) == expected
    # A strided view is read in logical order.
    assert crypto.sha256(memoryview(b"hxexlxlxo")[::2]) == expected


@settings(deadline=None)
@given(st.lists(st.binary(max_size=100), max_size=80))
def test_sha256_many_matches_hashlib(items: list[bytes]) -> None:
    assert crypto.sha256_many(items) == [hashlib.sha256(m).digest() for m in items]


def test_sha256_many_above_parallel_threshold_keeps_order() -> None:
    items = [i.to_bytes(4, "big") * (i % 7) for i in range(5000)]
    assert crypto.sha256_many(items) == [hashlib.sha256(m).digest() for m in items]
    assert crypto.sha256_many(iter(items[:10])) == crypto.sha256_many(items[:10])


@settings(deadline=None)
@given(st.integers(1, 80), st.integers(0, 60), st.data())
def test_sha256_many_packed_matches_hashlib(item_size: int, n: int, data: st.DataObject) -> None:
    buf = data.draw(st.binary(min_size=item_size * n, max_size=item_size * n))
    digests = crypto.sha256_many_packed(buf, item_size)
    expected = b"".join(
        hashlib.sha256(buf[i : i + item_size]).digest() for i in range(0, len(buf), item_size)
    )
    assert digests == expected
    assert len(digests) == 32 * n


def test_sha256_many_packed_large_buffer() -> None:
    buf = bytes(range(256)) * 1000  # 4000 items of 64 bytes
    expected = b"".join(hashlib.sha256(buf[i : i + 64]).digest() for i in range(0, len(buf), 64))
    assert crypto.sha256_many_packed(memoryview(buf), 64) == expected


@pytest.mark.parametrize(("size", "item_size"), [(10, 3), (64, 0), (64, -8)])
def test_sha256_many_packed_rejects_ragged_buffers(size: int, item_size: int) -> None:
    with pytest.raises(ValueError, match="item_size"):
        crypto.sha256_many_packed(bytes(size), item_size)


@settings(deadline=None)
@given(st.integers(0, 200), st.integers(0, 70), st.data())
def test_sha256_many_of_equal_lengths_matches_hashlib(
    size: int, n: int, data: st.DataObject
) -> None:
    # Equal lengths are hashed sixteen or four at a time; the rest one by one.
    items = data.draw(st.lists(st.binary(min_size=size, max_size=size), min_size=n, max_size=n))
    assert crypto.sha256_many(items) == [hashlib.sha256(m).digest() for m in items]


def test_sha256_many_reads_any_bytes_like_element() -> None:
    items = [b"abc", bytearray(b"abc"), memoryview(b"xabcx")[1:-1], array.array("B", b"abc")]
    assert crypto.sha256_many(items) == [hashlib.sha256(b"abc").digest()] * 4
    with pytest.raises(TypeError, match=r"items\[1\]"):
        crypto.sha256_many([b"abc", "abc"])  # type: ignore[list-item]
