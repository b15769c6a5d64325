"""Primitives of the canonical binary encoding (docs/PROTOCOL.md).

Integers are unsigned big-endian of fixed width; byte strings carry a
length prefix of fixed width; there is exactly one encoding of every value,
so encode(decode(b)) == b for every b that decodes. A ``Reader`` refuses
truncated input and trailing bytes with a ``DecodeError``; it never lets an
``IndexError`` or ``struct.error`` escape to the caller.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from node.errors import DecodeError

U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
I32 = struct.Struct(">i")

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1

# Names on the wire (chain ids, policy names) are short printable ASCII.
_NAME_RE = re.compile(rb"[A-Za-z0-9._\-]*")
MAX_NAME_LEN = 32


def check_name(name: str, what: str, *, allow_empty: bool = False) -> bytes:
    """Return the wire form of a chain id or policy name, or raise ValueError
    (TypeError if it is not a str)."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__}")
    raw = name.encode("ascii", errors="replace")
    if not allow_empty and not raw:
        raise ValueError(f"{what} must not be empty")
    if len(raw) > MAX_NAME_LEN or not _NAME_RE.fullmatch(raw):
        raise ValueError(f"{what} must be at most {MAX_NAME_LEN} characters of [A-Za-z0-9._-]")
    return raw


def check_uint(value: int, bits: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} must be in [0, 2^{bits}), got {value}")
    return value


def check_bytes(value: bytes, size: int, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(value)}")
    return value


def name8(raw: bytes) -> bytes:
    """A short name with its one-byte length prefix."""
    return U8.pack(len(raw)) + raw


class Reader:
    """Reads fixed-width fields from a buffer; every failure is a DecodeError."""

    __slots__ = ("_buf", "_pos", "_what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise DecodeError(f"{what}: expected bytes, got {type(data).__name__}")
        self._buf = memoryview(data).cast("B") if isinstance(data, memoryview) else data
        self._pos = 0
        self._what = what

    @property
    def pos(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._buf) - self._pos

    def fail(self, reason: str, code: str = "decode_error") -> DecodeError:
        return DecodeError(f"{self._what}: {reason} (at byte {self._pos})", code=code)

    def take(self, n: int) -> bytes:
        end = self._pos + n
        if n < 0 or end > len(self._buf):
            raise self.fail(f"truncated: needed {n} more bytes, {self.remaining} left", "truncated")
        out = bytes(self._buf[self._pos : end])
        self._pos = end
        return out

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        end = self._pos + fmt.size
        if end > len(self._buf):
            raise self.fail(
                f"truncated: needed {fmt.size} more bytes, {self.remaining} left", "truncated"
            )
        values = fmt.unpack_from(self._buf, self._pos)
        self._pos = end
        return values

    def u8(self) -> int:
        return self.unpack(U8)[0]

    def u16(self) -> int:
        return self.unpack(U16)[0]

    def u32(self) -> int:
        return self.unpack(U32)[0]

    def u64(self) -> int:
        return self.unpack(U64)[0]

    def i32(self) -> int:
        return self.unpack(I32)[0]

    def name(self, what: str, *, allow_empty: bool = False) -> str:
        n = self.u8()
        if n > MAX_NAME_LEN:
            raise self.fail(f"{what} longer than {MAX_NAME_LEN} bytes", "oversize")
        raw = self.take(n)
        if (not raw and not allow_empty) or not _NAME_RE.fullmatch(raw):
            raise self.fail(f"{what} is not a name of [A-Za-z0-9._-]", "bad_name")
        return raw.decode("ascii")

    def finish(self) -> None:
        if self._pos != len(self._buf):
            raise self.fail(f"{self.remaining} trailing bytes", "trailing_bytes")
