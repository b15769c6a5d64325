"""Config files and the values in them: read a TOML file, check its fields.

``read_toml`` reads a file whose every failure is a ``ConfigError`` naming
the file. Node configs, testnet profiles and workload descriptions are all
read this way; what the values mean is each reader's business.

``check_fields`` holds the rules every config dataclass applies to its
numbers, written once (each config's ``__post_init__`` calls it, so a field
added later is covered without a line of its own):

- an ``int`` field holds an int, never a bool (``true`` is not 1) or a float;
- a ``float`` field holds a finite int or float (TOML's ``nan`` and ``inf``
  are refused);
- every number lies in its field's ``Range``: by default ``[0, INT_MAX]`` or
  ``[0, FLOAT_MAX]``. The caps are far above any sane count, size or
  duration and keep every value exact for the code that takes it
  (SQLite and numpy int64, float arithmetic, asyncio timers), so ``2**70``
  as a port or a cap is refused at load, not deep inside a library;
- ``bool`` and ``str`` fields hold exactly that type.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import ConfigError

#: The largest integer any option takes: 2^53 - 1, exact as a float too.
INT_MAX = 2**53 - 1
#: The largest number a float option takes (1e15 s is ~32 million years).
FLOAT_MAX = 1e15

# int() refuses literals over 4300 digits with a bare ValueError; tomllib lets it out.
_LONG_INT = re.compile(r"[0-9_]{4000,}")


def read_toml(path: str | Path, what: str, *, code: str | None = None) -> dict[str, Any]:
    """The parsed table of ``path``; ``what`` names the kind of file in errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}", code=code) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8: {exc}", code=code) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", code=code) from None
    except ValueError:  # an integer literal beyond int()'s digit limit
        raise ConfigError(f"{path}: {_long_int_at(text)}", code=code) from None


def _long_int_at(text: str) -> str:
    found = _LONG_INT.search(text)
    if found is None:
        return "not valid TOML: a value cannot be read"
    line = text.count("\n", 0, found.start()) + 1
    start = text.rfind("\n", 0, found.start()) + 1
    key = text[start : found.start()].split("=")[0].strip() or "a value"
    digits = len(found.group().replace("_", ""))
    return f"line {line}: field '{key}' must be a number an option can take, got {digits} digits"


@dataclass(frozen=True, slots=True)
class Range:
    """Where a number field may lie: ``low <= v <= high`` (``low < v`` when ``open_low``);
    ``high=None`` means the type's cap (INT_MAX or FLOAT_MAX)."""

    low: float = 0
    high: float | None = None
    open_low: bool = False


#: The common ranges.
AT_LEAST_1 = Range(1)
POSITIVE = Range(0, open_low=True)
PORT = Range(0, 65535)


def check_fields(obj: Any, section: str, ranges: Mapping[str, Range] | None = None) -> None:
    """Check every int, float, bool and str field of the dataclass ``obj``.

    ``ranges`` gives a field its own Range (default ``Range()``: >= 0 up to
    the cap); a ConfigError names the field as ``'section.name'``.
    """
    ranges = ranges or {}
    for f in dataclasses.fields(obj):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if kind.endswith(" | None"):
            if getattr(obj, f.name) is None:
                continue
            kind = kind.removesuffix(" | None")
        if kind in ("int", "float"):
            check_number(getattr(obj, f.name), f"{section}.{f.name}", kind, ranges.get(f.name))
        elif kind in ("bool", "str"):
            value = getattr(obj, f.name)
            if type(value) is not (bool if kind == "bool" else str):
                want = "true or false" if kind == "bool" else "a string"
                raise _bad(f"{section}.{f.name}", want, value)
    unknown = set(ranges) - {f.name for f in dataclasses.fields(obj)}
    assert not unknown, f"ranges for fields {section} does not have: {sorted(unknown)}"


def check_number(value: Any, name: str, kind: str, limits: Range | None = None) -> float:
    """``value`` if it is a number of ``kind`` ("int" or "float") within ``limits``."""
    limits = limits or Range()
    is_int = kind == "int"
    cap = INT_MAX if is_int else FLOAT_MAX
    high = cap if limits.high is None else limits.high
    noun = "an integer" if is_int else "a finite number"
    low = _number(limits.low)
    if limits.high is not None:
        bounds = f"in {'(' if limits.open_low else '['}{low}, {_number(high)}]"
    else:
        bounds = f"> {low}" if limits.open_low else f">= {low}"
    if type(value) is not int and (is_int or type(value) is not float or not math.isfinite(value)):
        raise _bad(name, f"{noun} {bounds}", value)
    if (value <= limits.low) if limits.open_low else (value < limits.low):
        raise _bad(name, f"{noun} {bounds}", value)
    if value > high:
        at_most = bounds if limits.high is not None else f"at most {_number(cap)}"
        raise _bad(name, f"{noun} {at_most}", value)
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bad(name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"field '{name}' must be {expected}, got {_shown(value)}")


def _shown(value: Any) -> str:
    """A short rendering of a config value (repr of a huge int would itself fail)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 128:  # str() fails past 4300 digits
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
