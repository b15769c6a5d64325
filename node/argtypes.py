"""argparse value types shared by the command modules.

Each refuses a bad value with a message argparse prints after the option's
name (``--nodes: must be a whole number, got 'x'``).
"""

from __future__ import annotations

import argparse
import math


def _parse(text: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text)
    except ValueError:
        want = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}") from None


def whole(text: str) -> int:
    """An integer >= 0."""
    value = int(_parse(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = int(_parse(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> float:
    """A finite number >= 0."""
    value = _parse(text, float)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def positive(text: str) -> float:
    """A finite number > 0."""
    value = _parse(text, float)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value
