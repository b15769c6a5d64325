"""argparse value types shared by the command modules.

Each refuses a bad value with a message argparse prints after the option's
name (``argument --nodes: must be a whole number, got 'x'``), so a bad
value stops the command before it does anything. Whole numbers are bounded
above too (int64, or the range the option takes): a 5000-digit ``--seed``
is refused here, not deep inside numpy or sqlite.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

INT64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1
# Longer text is not a number any option takes (and int() of 4301+ digits
# raises its own ValueError); it is refused before parsing.
_MAX_NUMBER_TEXT = 64


def _clip(text: str) -> str:
    return text if len(text) <= 24 else text[:21] + "..."


def _parse(text: str, kind: type[int] | type[float]) -> float:
    want = "a whole number" if kind is int else "a number"
    if len(text) > _MAX_NUMBER_TEXT:
        raise argparse.ArgumentTypeError(f"must be {want}, got {_clip(text)!r}")
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {want}, got {_clip(text)!r}") from None


def int_in(low: int, high: int) -> Callable[[str], int]:
    """The type of an integer option in [low, high]."""

    def parse(text: str) -> int:
        value = int(_parse(text, int))
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}")
        return value

    parse.__name__ = f"int_in_{low}_{high}"
    return parse


def whole(text: str) -> int:
    """An integer in [0, 2^63 - 1]."""
    value = int(_parse(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    if value > INT64_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {INT64_MAX}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer in [1, 2^63 - 1]."""
    value = whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def uint64(text: str) -> int:
    """An amount, fee or nonce: an integer in [0, 2^64 - 1], what a transaction carries."""
    value = int(_parse(text, int))
    if not 0 <= value <= U64_MAX:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^64 - 1], got {value}")
    return value


def non_negative(text: str) -> float:
    """A finite number >= 0."""
    value = _parse(text, float)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {_clip(text)}")
    return value


def positive(text: str) -> float:
    """A finite number > 0."""
    value = _parse(text, float)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {_clip(text)}")
    return value


#: A TCP port to listen on or dial.
port = int_in(1, 65535)
