"""Labelled workload traces: the columns, and strict CSV / JSONL readers and writers.

A trace is one row per transaction, in the columns of DESIGN.md (Scheduling):

========== ========================================================== ==========
column     meaning                                                    kind
========== ========================================================== ==========
arrival_s  when the tx reaches the node (seconds, >= 0)               observable
sender     sender account name (any non-empty string)                 observable
recipient  recipient account name                                     observable
nonce      the sender's nonce for this tx (integer, >= 0)             observable
fee        fee paid (integer, >= 0)                                   observable
size       encoded size in bytes (1 .. MAX_TX_SIZE)                   observable
class      the tx's traffic class (``urgent``, ``bulk``, ``spam``...)  hidden
deadline_s earns ``value`` only if included within this many seconds  hidden
           of arrival; empty (CSV) / null or absent (JSONL) = none
value      utility earned by including the tx in time (>= 0)          hidden
========== ========================================================== ==========

The observable columns are required; the hidden label columns are optional
(absent: class ``default``, no deadline, value 0). Extra columns are allowed
and ignored. Parsing is strict: the first bad row stops the read with a
``ConfigError`` naming the file, the line number and the field.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.types import MAX_TX_DATA, MAX_TX_SIZE

OBSERVABLE_COLUMNS = ("arrival_s", "sender", "recipient", "nonce", "fee", "size")
LABEL_COLUMNS = ("class", "deadline_s", "value")
COLUMNS = OBSERVABLE_COLUMNS + LABEL_COLUMNS
DEFAULT_CLASS = "default"
TRACE_FORMATS = (".csv", ".jsonl")

_INT_MAX = 2**63 - 1

# Encoded size of a transaction on the bench chain (chain id "bench", no
# data) and the largest one: a trace row's size must be buildable.
BENCH_CHAIN_ID = "bench"
MIN_BENCH_TX_SIZE = 1 + 1 + len(BENCH_CHAIN_ID) + 90 + 64
MAX_BENCH_TX_SIZE = MIN_BENCH_TX_SIZE + MAX_TX_DATA


def address_of(name: str) -> bytes:
    """The 32-byte address a trace's account name stands for."""
    return hashlib.sha256(name.encode("utf-8")).digest()


@dataclass(frozen=True)
class Trace:
    """A labelled trace held as columns (row ``i`` is one transaction).

    ``deadline_s`` is NaN where the tx has no deadline.
    """

    arrival_s: np.ndarray  # float64
    sender: list[str]
    recipient: list[str]
    nonce: np.ndarray  # int64
    fee: np.ndarray  # int64
    size: np.ndarray  # int64
    tx_class: list[str]
    deadline_s: np.ndarray  # float64, NaN = no deadline
    value: np.ndarray  # float64

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        lengths = {len(getattr(self, name)) for name in _FIELDS}
        assert lengths == {n}, f"trace columns differ in length: {sorted(lengths)}"

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def classes(self) -> list[str]:
        """The distinct classes, in order of first appearance."""
        return list(dict.fromkeys(self.tx_class))

    def take(self, rows: np.ndarray) -> Trace:
        """The sub-trace of the given row indices (in that order)."""
        idx = np.asarray(rows, dtype=np.int64)
        pick = idx.tolist()
        return Trace(
            arrival_s=self.arrival_s[idx],
            sender=[self.sender[i] for i in pick],
            recipient=[self.recipient[i] for i in pick],
            nonce=self.nonce[idx],
            fee=self.fee[idx],
            size=self.size[idx],
            tx_class=[self.tx_class[i] for i in pick],
            deadline_s=self.deadline_s[idx],
            value=self.value[idx],
        )

    def sorted_by_arrival(self) -> Trace:
        """The same rows ordered by arrival (stable: file order breaks ties)."""
        order = np.argsort(self.arrival_s, kind="stable")
        if np.array_equal(order, np.arange(len(self))):
            return self
        return self.take(order)

    def next_nonces(self) -> dict[str, int]:
        """Each sender's next nonce once its txs here are committed: the
        first nonce missing from its run 0, 1, 2, ... (a tx behind a nonce
        gap never commits, so it does not count)."""
        used: dict[str, set[int]] = {}
        for sender, nonce in zip(self.sender, self.nonce.tolist(), strict=True):
            used.setdefault(sender, set()).add(nonce)
        out: dict[str, int] = {}
        for sender, nonces in used.items():
            n = 0
            while n in nonces:
                n += 1
            out[sender] = n
        return out

    def split(self, fraction: float) -> tuple[Trace, Trace]:
        """The first ``fraction`` of the rows (by arrival) and the rest."""
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"split fraction must be in (0, 1), got {fraction}")
        ordered = self.sorted_by_arrival()
        cut = round(len(ordered) * fraction)
        rows = np.arange(len(ordered))
        return ordered.take(rows[:cut]), ordered.take(rows[cut:])

    def second_half(self) -> tuple[Trace, dict[str, int]]:
        """The cold start: the second half of the rows (by arrival) and the
        nonce each sender's account starts at, as if the first half had
        committed (``next_nonces`` of it). A sender's state is thus its
        first nonce in the half, unless that nonce sits behind a gap the
        sender made itself (a nonce-gap flood stays stuck)."""
        head, tail = self.split(0.5)
        return tail, head.next_nonces()


_FIELDS = (
    "arrival_s",
    "sender",
    "recipient",
    "nonce",
    "fee",
    "size",
    "tx_class",
    "deadline_s",
    "value",
)


# -- field parsing (shared by both formats) ------------------------------------


class _BadField(Exception):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(field, why)
        self.field = field
        self.why = why


def _parse_float(field: str, raw: Any, *, minimum: float, allow_equal: bool = True) -> float:
    if isinstance(raw, bool) or raw is None:
        raise _BadField(field, f"expected a number, got {raw!r}")
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise _BadField(field, f"expected a number, got {raw!r}") from None
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise _BadField(field, f"expected a number, got {raw!r}")
    if not math.isfinite(value):
        raise _BadField(field, f"expected a finite number, got {raw!r}")
    if value < minimum or (not allow_equal and value == minimum):
        op = ">=" if allow_equal else ">"
        raise _BadField(field, f"must be {op} {minimum:g}, got {raw!r}")
    return value


def _parse_int(field: str, raw: Any, *, minimum: int, maximum: int = _INT_MAX) -> int:
    if isinstance(raw, bool):
        raise _BadField(field, f"expected an integer, got {raw!r}")
    if isinstance(raw, str):
        text = raw.strip()
        if not text.isdigit() and not (text.startswith("-") and text[1:].isdigit()):
            raise _BadField(field, f"expected an integer, got {raw!r}")
        value = int(text)
    elif isinstance(raw, int):
        value = raw
    else:
        raise _BadField(field, f"expected an integer, got {raw!r}")
    if not minimum <= value <= maximum:
        raise _BadField(field, f"must be in [{minimum}, {maximum}], got {raw!r}")
    return value


def _parse_name(field: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _BadField(field, f"expected a non-empty string, got {raw!r}")
    return raw.strip()


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


class _Columns:
    """Accumulates parsed rows, one list per column."""

    def __init__(self) -> None:
        self.arrival_s: list[float] = []
        self.sender: list[str] = []
        self.recipient: list[str] = []
        self.nonce: list[int] = []
        self.fee: list[int] = []
        self.size: list[int] = []
        self.tx_class: list[str] = []
        self.deadline_s: list[float] = []
        self.value: list[float] = []

    def add(self, row: Mapping[str, Any]) -> None:
        """Parse one row (raises _BadField; appends nothing on failure)."""
        arrival = _parse_float("arrival_s", row.get("arrival_s"), minimum=0.0)
        sender = _parse_name("sender", row.get("sender"))
        recipient = _parse_name("recipient", row.get("recipient"))
        nonce = _parse_int("nonce", row.get("nonce"), minimum=0)
        fee = _parse_int("fee", row.get("fee"), minimum=0)
        size = _parse_int("size", row.get("size"), minimum=1, maximum=MAX_TX_SIZE)
        raw_class = row.get("class")
        tx_class = DEFAULT_CLASS if _is_empty(raw_class) else _parse_name("class", raw_class)
        raw_deadline = row.get("deadline_s")
        deadline = (
            math.nan
            if _is_empty(raw_deadline)
            else _parse_float("deadline_s", raw_deadline, minimum=0.0, allow_equal=False)
        )
        raw_value = row.get("value")
        value = 0.0 if _is_empty(raw_value) else _parse_float("value", raw_value, minimum=0.0)
        self.arrival_s.append(arrival)
        self.sender.append(sender)
        self.recipient.append(recipient)
        self.nonce.append(nonce)
        self.fee.append(fee)
        self.size.append(size)
        self.tx_class.append(tx_class)
        self.deadline_s.append(deadline)
        self.value.append(value)

    def trace(self) -> Trace:
        return Trace(
            arrival_s=np.array(self.arrival_s, dtype=np.float64),
            sender=self.sender,
            recipient=self.recipient,
            nonce=np.array(self.nonce, dtype=np.int64),
            fee=np.array(self.fee, dtype=np.int64),
            size=np.array(self.size, dtype=np.int64),
            tx_class=self.tx_class,
            deadline_s=np.array(self.deadline_s, dtype=np.float64),
            value=np.array(self.value, dtype=np.float64),
        )


def _refuse(path: Path, line: int, why: str) -> ConfigError:
    return ConfigError(f"{path}: line {line}: {why}", code="bad_trace")


# -- reading -------------------------------------------------------------------


def _trace_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TRACE_FORMATS:
        raise ConfigError(
            f"{path}: unknown trace format {suffix or '(none)'!r}: use .csv or .jsonl",
            code="bad_trace",
        )
    return suffix


def read_trace(path: str | Path) -> Trace:
    """Load a trace from a .csv or .jsonl file (ConfigError on any bad row)."""
    path = Path(path)
    fmt = _trace_format(path)
    try:
        with path.open(newline="" if fmt == ".csv" else None, encoding="utf-8") as f:
            return _read_csv(path, f) if fmt == ".csv" else _read_jsonl(path, f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read trace: {exc.strerror}", code="bad_trace") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: trace is not UTF-8 text", code="bad_trace") from None


def _read_csv(path: Path, f: Iterable[str]) -> Trace:
    reader = csv.reader(f)
    try:
        header = next(reader)
    except StopIteration:
        raise _refuse(path, 1, "empty file: expected a header row") from None
    header = [name.strip() for name in header]
    missing = [c for c in OBSERVABLE_COLUMNS if c not in header]
    if missing:
        raise _refuse(path, 1, f"header lacks the required column(s) {', '.join(missing)}")
    columns = _Columns()
    line = reader.line_num
    try:
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue
            if len(fields) != len(header):
                raise _refuse(path, line, f"expected {len(header)} fields, got {len(fields)}")
            columns.add(dict(zip(header, fields, strict=True)))
    except _BadField as exc:
        raise _refuse(path, line, f"field {exc.field!r}: {exc.why}") from None
    except csv.Error as exc:
        raise _refuse(path, reader.line_num, f"malformed CSV: {exc}") from None
    return columns.trace()


def _read_jsonl(path: Path, f: Iterable[str]) -> Trace:
    columns = _Columns()
    for line, text in enumerate(f, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _refuse(path, line, f"not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise _refuse(path, line, "expected a JSON object")
        missing = [c for c in OBSERVABLE_COLUMNS if c not in row]
        if missing:
            raise _refuse(path, line, f"missing field(s) {', '.join(missing)}")
        try:
            columns.add(row)
        except _BadField as exc:
            raise _refuse(path, line, f"field {exc.field!r}: {exc.why}") from None
    return columns.trace()


# -- writing -------------------------------------------------------------------


def _rows(trace: Trace) -> Iterator[dict[str, Any]]:
    for i in range(len(trace)):
        deadline = float(trace.deadline_s[i])
        yield {
            "arrival_s": float(trace.arrival_s[i]),
            "sender": trace.sender[i],
            "recipient": trace.recipient[i],
            "nonce": int(trace.nonce[i]),
            "fee": int(trace.fee[i]),
            "size": int(trace.size[i]),
            "class": trace.tx_class[i],
            "deadline_s": None if math.isnan(deadline) else deadline,
            "value": float(trace.value[i]),
        }


def write_trace(trace: Trace, path: str | Path) -> None:
    """Save a trace as .csv or .jsonl (chosen by the extension).

    Floats are written in their shortest exact form, so reading the file
    back gives the same trace, bit for bit.
    """
    path = Path(path)
    fmt = _trace_format(path)
    with path.open("w", newline="" if fmt == ".csv" else None, encoding="utf-8") as f:
        if fmt == ".jsonl":
            for row in _rows(trace):
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
            return
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in _rows(trace):
            writer.writerow([_csv_cell(row[c]) for c in COLUMNS])


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
