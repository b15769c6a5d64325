"""Bad arguments raise TypeError or ValueError, never crash the interpreter."""

from __future__ import annotations

import array
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from node import crypto

KEY = crypto.keypair_from_seed(bytes(32))[1]
SIG = crypto.sign(bytes(32), b"m")
ROOT = crypto.merkle_root([b"a"])

NOT_BYTES: list[Any] = ["text", 42, None, 1.5, [1, 2], object()]

# Every call, with one argument replaced by something that is not bytes-like.
CALLS_WITH_BAD_BYTES: dict[str, Callable[[Any], object]] = {
    "sha256": lambda x: crypto.sha256(x),
    "sha256_many item": lambda x: crypto.sha256_many([b"ok", x]),
    "sha256_many_packed": lambda x: crypto.sha256_many_packed(x, 4),
    "merkle_root item": lambda x: crypto.merkle_root([x]),
    "merkle_root_packed": lambda x: crypto.merkle_root_packed(x, 4),
    "merkle_proof item": lambda x: crypto.merkle_proof([b"a", x], 0),
    "verify_merkle_proof item": lambda x: crypto.verify_merkle_proof(x, 0, 1, [], ROOT),
    "verify_merkle_proof proof": lambda x: crypto.verify_merkle_proof(b"a", 0, 1, [x], ROOT),
    "verify_merkle_proof root": lambda x: crypto.verify_merkle_proof(b"a", 0, 1, [], x),
    "keypair_from_seed": lambda x: crypto.keypair_from_seed(x),
    "sign seed": lambda x: crypto.sign(x, b"m"),
    "sign msg": lambda x: crypto.sign(bytes(32), x),
    "verify key": lambda x: crypto.verify(x, b"m", SIG),
    "verify msg": lambda x: crypto.verify(KEY, x, SIG),
    "verify sig": lambda x: crypto.verify(KEY, b"m", x),
    "verify_batch key": lambda x: crypto.verify_batch([x], [b"m"], [SIG]),
    "verify_batch msg": lambda x: crypto.verify_batch([KEY], [x], [SIG]),
    "verify_batch sig": lambda x: crypto.verify_batch([KEY], [b"m"], [x]),
    "pow_search prefix": lambda x: crypto.pow_search(x, bytes(32), 0, 1),
    "pow_search target": lambda x: crypto.pow_search(b"p", x, 0, 1),
}


@pytest.mark.parametrize("bad", NOT_BYTES, ids=lambda x: type(x).__name__)
@pytest.mark.parametrize("call", CALLS_WITH_BAD_BYTES.values(), ids=CALLS_WITH_BAD_BYTES.keys())
def test_non_bytes_argument_is_type_error(call: Callable[[Any], object], bad: Any) -> None:
    with pytest.raises(TypeError):
        call(bad)


NOT_SEQUENCES: list[Any] = [42, None, 1.5]


@pytest.mark.parametrize("bad", NOT_SEQUENCES, ids=lambda x: type(x).__name__)
@pytest.mark.parametrize(
    "call",
    [
        lambda x: crypto.sha256_many(x),
        lambda x: crypto.merkle_root(x),
        lambda x: crypto.merkle_proof(x, 0),
        lambda x: crypto.verify_merkle_proof(b"a", 0, 1, x, ROOT),
        lambda x: crypto.verify_batch(x, [], []),
    ],
)
def test_non_iterable_sequence_argument_is_type_error(
    call: Callable[[Any], object], bad: Any
) -> None:
    with pytest.raises(TypeError):
        call(bad)


@pytest.mark.parametrize(
    "call",
    [
        lambda: crypto.merkle_proof([b"a"], "0"),
        lambda: crypto.merkle_proof([b"a"], 0.0),
        lambda: crypto.verify_merkle_proof(b"a", "0", 1, [], ROOT),
        lambda: crypto.verify_merkle_proof(b"a", 0, None, [], ROOT),
        lambda: crypto.sha256_many_packed(b"abcd", 2.0),
        lambda: crypto.merkle_root_packed(b"abcd", "2"),
        lambda: crypto.pow_search(b"p", bytes(32), "0", 1),
        lambda: crypto.pow_search(b"p", bytes(32), 0, 1.0),
    ],
)
def test_non_integer_index_or_size_is_type_error(call: Callable[[], object]) -> None:
    with pytest.raises(TypeError):
        call()


def test_bytes_object_passed_as_a_list_is_type_error() -> None:
    # Iterating b"ab" gives ints, which are not bytes-like.
    with pytest.raises(TypeError, match=r"items\[0\]"):
        crypto.sha256_many(b"ab")


def test_buffer_of_wider_items_is_type_error() -> None:
    # Only buffers of unsigned bytes are read, so no byte order is guessed.
    with pytest.raises(TypeError):
        crypto.sha256(array.array("I", [1, 2]))


class LyingLength:
    """Iterates over two items but claims to hold 2**62."""

    def __len__(self) -> int:
        return 2**62

    def __iter__(self) -> Iterator[bytes]:
        return iter([b"a", b"b"])


def test_a_sequence_whose_len_lies_is_read_by_iteration() -> None:
    assert crypto.sha256_many(LyingLength()) == [crypto.sha256(b"a"), crypto.sha256(b"b")]
    assert crypto.merkle_root(LyingLength()) == crypto.merkle_root([b"a", b"b"])


def test_errors_raised_while_iterating_propagate() -> None:
    def broken() -> Iterator[bytes]:
        yield b"a"
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        crypto.sha256_many(broken())
