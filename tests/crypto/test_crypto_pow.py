"""pow_search returns the smallest nonce in range whose header meets the target."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import crypto


def header_hash(prefix: bytes, nonce: int) -> bytes:
    return hashlib.sha256(prefix + nonce.to_bytes(8, "big")).digest()


def target_with_leading_zero_bits(bits: int) -> bytes:
    """The target that about one header in 2**bits meets."""
    return ((1 << (256 - bits)) - 1).to_bytes(32, "big")


def brute_force(prefix: bytes, target: bytes, start: int, count: int) -> int | None:
    for nonce in range(start, start + count):
        if header_hash(prefix, nonce) <= target:
            return nonce
    return None


# Hypothesis deadlines are off throughout: the machines are shared, a loaded
# core can stretch any example, and these tests assert behaviour, not speed.
@settings(max_examples=40, deadline=None)
@given(
    prefix=st.binary(max_size=100),
    bits=st.integers(0, 9),
    start=st.integers(0, 2**64 - 5000),
    count=st.integers(0, 3000),
)
def test_finds_the_smallest_qualifying_nonce(
    prefix: bytes, bits: int, start: int, count: int
) -> None:
    target = target_with_leading_zero_bits(bits)
    found = crypto.pow_search(prefix, target, start, count)
    assert found == brute_force(prefix, target, start, count)
    if found is not None:
        assert int.from_bytes(header_hash(prefix, found), "big") <= int.from_bytes(target, "big")


def test_parallel_search_over_a_long_range_is_deterministic() -> None:
    prefix = b"ordinet block header"
    target = target_with_leading_zero_bits(16)
    found = crypto.pow_search(prefix, target, 0, 1 << 20)
    assert found is not None
    assert header_hash(prefix, found) <= target
    assert brute_force(prefix, target, 0, found) is None
    assert all(crypto.pow_search(prefix, target, 0, 1 << 20) == found for _ in range(3))


def test_target_is_compared_as_a_big_endian_integer() -> None:
    prefix = b"p"
    digest = header_hash(prefix, 7)
    assert crypto.pow_search(prefix, digest, 7, 1) == 7
    just_below = (int.from_bytes(digest, "big") - 1).to_bytes(32, "big")
    assert crypto.pow_search(prefix, just_below, 7, 1) is None


def test_none_when_nothing_qualifies() -> None:
    assert crypto.pow_search(b"x", bytes(32), 0, 100_000) is None
    assert crypto.pow_search(b"x", b"\xff" * 32, 0, 0) is None


def test_range_may_end_at_the_last_64_bit_nonce() -> None:
    assert crypto.pow_search(b"x", b"\xff" * 32, 2**64 - 1, 1) == 2**64 - 1


@pytest.mark.parametrize(
    ("start", "count"), [(2**64 - 1, 2), (2**64, 1), (-1, 10), (0, -1), (0, 2**64 + 1)]
)
def test_nonce_range_outside_64_bits_is_value_error(start: int, count: int) -> None:
    with pytest.raises(ValueError):
        crypto.pow_search(b"x", b"\xff" * 32, start, count)


@pytest.mark.parametrize("target", [b"", bytes(31), bytes(33)])
def test_target_of_wrong_length_is_value_error(target: bytes) -> None:
    with pytest.raises(ValueError, match="target"):
        crypto.pow_search(b"x", target, 0, 10)
