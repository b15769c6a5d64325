"""Workload generators: a TOML description in, a labelled trace out.

A workload names its account groups and one or more traffic sources; each
source is a stream of one traffic class with its own arrival process,
account mix, fee, size, value and deadline distributions. The sources are
merged by arrival time and every sender's nonces are numbered in arrival
order. Everything random comes from one ``numpy.random.Generator`` seeded
by the caller, so a description and a seed give the same trace, bit for
bit. See docs/SCHEDULING.md (Workloads) for the file format; the shipped
descriptions are configs/workloads/*.toml.

Example::

    name = "tiny"
    duration_s = 60.0

    [accounts.users]
    count = 100

    [[source]]
    class = "transfer"
    rate_tps = 20.0
    senders = "users"
    recipients = "users"
    fee_rate = { median = 2.0, sigma = 0.5 }
    size = { min = 170, max = 300 }
    value = 1.0
    deadline_s = { min = 5.0, max = 20.0 }
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.research.trace import MAX_BENCH_TX_SIZE, MIN_BENCH_TX_SIZE, Trace, read_trace
from node.tomlfile import read_toml

ARRIVALS = ("poisson", "bursts")


@dataclass(frozen=True)
class LogNormal:
    """``median * exp(sigma * N(0, 1))``; sigma 0 is the constant ``median``."""

    median: float
    sigma: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.sigma == 0.0:
            return np.full(n, self.median)
        return self.median * np.exp(self.sigma * rng.standard_normal(n))


@dataclass(frozen=True)
class Range:
    """Uniform on [low, high] (integers when both bounds are)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def sample_int(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(int(self.low), int(self.high), n, endpoint=True)


@dataclass(frozen=True)
class Bursts:
    """Bursts of ``rate_tps`` lasting ``length_s``, every ``every_s`` from ``offset_s``."""

    every_s: float
    length_s: float
    rate_tps: float
    offset_s: float


@dataclass(frozen=True)
class AccountGroup:
    """``count`` accounts named ``NAME-0 .. NAME-(count-1)``; ``skew`` is a Zipf
    exponent over them (0: all equally likely)."""

    name: str
    count: int
    skew: float

    def names(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.count)]

    def weights(self) -> np.ndarray:
        w = 1.0 / np.arange(1, self.count + 1, dtype=np.float64) ** self.skew
        return w / w.sum()


@dataclass(frozen=True)
class Source:
    """One traffic class: its arrivals, accounts and label distributions."""

    tx_class: str
    rate_tps: float
    start_s: float
    end_s: float | None
    bursts: Bursts | None
    senders: Mapping[str, float]
    recipients: Mapping[str, float]
    fee_rate: LogNormal
    size: Range
    value: LogNormal
    deadline_s: Range | None
    nonce_gap: int


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    description: str
    duration_s: float
    groups: Mapping[str, AccountGroup]
    sources: tuple[Source, ...]


# -- parsing ---------------------------------------------------------------------


class _Table:
    """A TOML table being validated: every error names the file and the field."""

    def __init__(self, path: str, prefix: str, data: Any) -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(data, dict):
            raise self.error("", f"expected a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def error(self, key: str, why: str) -> ConfigError:
        field = f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)
        return ConfigError(f"{self.path}: field {field!r}: {why}", code="bad_workload")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise self.error(key, "is required")
        self.used.add(key)
        return self.data[key]

    def number(
        self,
        key: str,
        *,
        default: float | None = None,
        minimum: float = 0.0,
        positive: bool = False,
    ) -> float:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.error(key, f"must be > 0, got {value:g}")
        if value < minimum:
            raise self.error(key, f"must be >= {minimum:g}, got {value:g}")
        return value

    def integer(self, key: str, *, default: int | None = None, minimum: int = 0) -> int:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def text(self, key: str, *, default: str | None = None) -> str:
        if key not in self.data and default is not None:
            return default
        value = self.raw(key)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value.strip()

    def sub(self, key: str) -> _Table:
        field = f"{self.prefix}.{key}" if self.prefix else key
        return _Table(self.path, field, self.raw(key))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown field (check the spelling)")


def _lognormal(table: _Table, key: str) -> LogNormal:
    raw = table.raw(key)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return LogNormal(table.number(key), 0.0)
    sub = table.sub(key)
    dist = LogNormal(sub.number("median"), sub.number("sigma", default=0.0))
    sub.finish()
    return dist


def _range(table: _Table, key: str, *, integer: bool = False, positive: bool = False) -> Range:
    sub = table.sub(key)
    if integer:
        low: float = sub.integer("min")
        high: float = sub.integer("max")
    else:
        low = sub.number("min", positive=positive)
        high = sub.number("max", positive=positive)
    if high < low:
        raise sub.error("max", f"must be >= min ({low:g}), got {high:g}")
    sub.finish()
    return Range(low, high)


def _mix(table: _Table, key: str, groups: Mapping[str, AccountGroup]) -> dict[str, float]:
    raw = table.raw(key)
    if isinstance(raw, str):
        mix = {raw: 1.0}
    else:
        sub = table.sub(key)
        mix = {name: sub.number(name, positive=True) for name in list(sub.data)}
    if not mix:
        raise table.error(key, "names no account group")
    for name in mix:
        if name not in groups:
            known = ", ".join(sorted(groups)) or "none"
            raise table.error(key, f"unknown account group {name!r} (defined: {known})")
    total = sum(mix.values())
    return {name: w / total for name, w in mix.items()}


def _source(table: _Table, groups: Mapping[str, AccountGroup], duration_s: float) -> Source:
    arrival = table.text("arrival", default="poisson")
    if arrival not in ARRIVALS:
        raise table.error("arrival", f"must be one of {', '.join(ARRIVALS)}, got {arrival!r}")
    bursts = None
    if arrival == "bursts":
        sub = table.sub("burst")
        every = sub.number("every_s", positive=True)
        bursts = Bursts(
            every_s=every,
            length_s=sub.number("length_s", positive=True),
            rate_tps=sub.number("rate_tps", positive=True),
            offset_s=sub.number("offset_s", default=every / 2),
        )
        if bursts.length_s > every:
            raise sub.error("length_s", f"must be <= every_s ({every:g})")
        sub.finish()
    elif table.has("burst"):
        raise table.error("burst", 'is only valid with arrival = "bursts"')
    start = table.number("start_s", default=0.0)
    end = table.number("end_s", positive=True) if table.has("end_s") else None
    if end is not None and end <= start:
        raise table.error("end_s", f"must be > start_s ({start:g})")
    size = _range(table, "size", integer=True)
    if size.low < MIN_BENCH_TX_SIZE or size.high > MAX_BENCH_TX_SIZE:
        raise table.error(
            "size", f"must lie within [{MIN_BENCH_TX_SIZE}, {MAX_BENCH_TX_SIZE}] bytes"
        )
    source = Source(
        tx_class=table.text("class"),
        rate_tps=table.number("rate_tps", positive=True),
        start_s=start,
        end_s=end,
        bursts=bursts,
        senders=_mix(table, "senders", groups),
        recipients=_mix(table, "recipients", groups),
        fee_rate=_lognormal(table, "fee_rate"),
        size=size,
        value=_lognormal(table, "value"),
        deadline_s=_range(table, "deadline_s", positive=True) if table.has("deadline_s") else None,
        nonce_gap=table.integer("nonce_gap", default=0),
    )
    one_account = [g for g in source.senders if groups[g].count == 1 and g in source.recipients]
    if one_account:
        raise table.error(
            "recipients",
            f"group {one_account[0]!r} has one account: a tx could only send to itself",
        )
    table.finish()
    return source


def parse_workload(data: Mapping[str, Any], path: str = "<workload>") -> WorkloadSpec:
    """Validate a workload description (ConfigError naming the field)."""
    top = _Table(path, "", dict(data))
    name = top.text("name")
    description = top.text("description", default="-")
    duration = top.number("duration_s", positive=True)
    accounts = top.sub("accounts")
    groups: dict[str, AccountGroup] = {}
    for group_name in list(accounts.data):
        sub = accounts.sub(group_name)
        groups[group_name] = AccountGroup(
            name=group_name,
            count=sub.integer("count", minimum=1),
            skew=sub.number("skew", default=0.0),
        )
        sub.finish()
    if not groups:
        raise top.error("accounts", "defines no account group")
    raw_sources = top.raw("source")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise top.error("source", "expected one or more [[source]] tables")
    sources = tuple(
        _source(_Table(path, f"source[{i}]", raw), groups, duration)
        for i, raw in enumerate(raw_sources)
    )
    top.finish()
    return WorkloadSpec(name, description, duration, groups, sources)


def load_workload(path: str | Path) -> WorkloadSpec:
    """Read and validate a workload TOML file."""
    path = Path(path)
    data = read_toml(path, "workload", code="bad_workload")
    return parse_workload(data, str(path))


# -- generation ------------------------------------------------------------------


def _arrivals(src: Source, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of a piecewise-constant-rate Poisson process, sorted."""
    end = duration_s if src.end_s is None else min(src.end_s, duration_s)
    segments: list[tuple[float, float, float]] = []  # (start, end, rate)
    if src.bursts is None:
        segments.append((src.start_s, end, src.rate_tps))
    else:
        b = src.bursts
        t = src.start_s
        burst_start = b.offset_s
        while t < end:
            while burst_start + b.length_s <= t:
                burst_start += b.every_s
            if t < burst_start:
                nxt = min(burst_start, end)
                segments.append((t, nxt, src.rate_tps))
            else:
                nxt = min(burst_start + b.length_s, end)
                segments.append((t, nxt, b.rate_tps))
            t = nxt
    parts = []
    for lo, hi, rate in segments:
        if hi <= lo:
            continue
        n = int(rng.poisson(rate * (hi - lo)))
        parts.append(rng.uniform(lo, hi, n))
    times = np.concatenate(parts) if parts else np.zeros(0)
    return np.sort(times)


def _accounts(
    mix: Mapping[str, float],
    groups: Mapping[str, AccountGroup],
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """For n txs: (group index into ``mix``, account index within that group)."""
    names = list(mix)
    which = rng.choice(len(names), size=n, p=np.array([mix[g] for g in names]))
    index = np.zeros(n, dtype=np.int64)
    for gi, name in enumerate(names):
        rows = np.flatnonzero(which == gi)
        group = groups[name]
        index[rows] = rng.choice(group.count, size=len(rows), p=group.weights())
    return which, index


def generate(spec: WorkloadSpec, seed: int, *, duration_s: float | None = None) -> Trace:
    """A labelled trace of the workload, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    duration = spec.duration_s if duration_s is None else duration_s
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("t", "sender", "recipient", "fee", "size", "class", "deadline", "value", "gap")
    }
    for src in spec.sources:
        times = _arrivals(src, duration, rng)
        n = len(times)
        s_group, s_index = _accounts(src.senders, spec.groups, n, rng)
        r_group, r_index = _accounts(src.recipients, spec.groups, n, rng)
        sizes = src.size.sample_int(rng, n)
        fees = np.rint(src.fee_rate.sample(rng, n) * sizes).astype(np.int64)
        values = np.round(src.value.sample(rng, n), 4)
        if src.deadline_s is None:
            deadlines = np.full(n, math.nan)
        else:
            deadlines = np.round(src.deadline_s.sample(rng, n), 3)
        s_names = list(src.senders)
        r_names = list(src.recipients)
        for i in range(n):
            sg = spec.groups[s_names[s_group[i]]]
            rg = spec.groups[r_names[r_group[i]]]
            r_idx = int(r_index[i])
            if sg.name == rg.name and r_idx == s_index[i]:
                r_idx = (r_idx + 1) % rg.count  # no self-transfers
            cols["sender"].append(f"{sg.name}-{s_index[i]}")
            cols["recipient"].append(f"{rg.name}-{r_idx}")
        cols["t"].append(np.round(times, 6))
        cols["fee"].append(fees)
        cols["size"].append(sizes)
        cols["class"].extend([src.tx_class] * n)
        cols["deadline"].append(deadlines)
        cols["value"].append(values)
        cols["gap"].append(np.full(n, src.nonce_gap, dtype=np.int64))

    def cat(key: str, dtype: Any) -> np.ndarray:
        parts = cols[key]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    times = cat("t", np.float64)
    order = np.argsort(times, kind="stable")
    gaps = cat("gap", np.int64)[order]
    senders = [cols["sender"][i] for i in order.tolist()]
    nonces = _number_nonces(senders, gaps)
    return Trace(
        arrival_s=times[order],
        sender=senders,
        recipient=[cols["recipient"][i] for i in order.tolist()],
        nonce=nonces,
        fee=cat("fee", np.int64)[order],
        size=cat("size", np.int64)[order],
        tx_class=[cols["class"][i] for i in order.tolist()],
        deadline_s=cat("deadline", np.float64)[order],
        value=cat("value", np.float64)[order],
    )


def _number_nonces(senders: list[str], gaps: np.ndarray) -> np.ndarray:
    """Each sender's nonces in arrival order.

    A regular tx takes the sender's next nonce. A tx of a nonce-gap source
    (gap g > 0) takes ``next + g + k``, where k counts that sender's earlier
    gap txs: a run of future nonces that waits in the pool for ones that
    never come.
    """
    next_nonce: dict[str, int] = {}
    gap_sent: dict[str, int] = {}
    out = np.zeros(len(senders), dtype=np.int64)
    for i, (sender, gap) in enumerate(zip(senders, gaps.tolist(), strict=True)):
        base = next_nonce.get(sender, 0)
        if gap > 0:
            k = gap_sent.get(sender, 0)
            out[i] = base + gap + k
            gap_sent[sender] = k + 1
        else:
            out[i] = base
            next_nonce[sender] = base + 1
    return out


def load_trace(path: str | Path, seed: int, *, max_duration_s: float | None = None) -> Trace:
    """A trace file (.csv, .jsonl), or a workload description (.toml) generated
    with ``seed`` for its duration, or at most ``max_duration_s`` of it."""
    path = Path(path)
    if path.suffix.lower() == ".toml":
        spec = load_workload(path)
        duration = spec.duration_s
        if max_duration_s is not None:
            duration = min(duration, max_duration_s)
        return generate(spec, seed, duration_s=duration)
    return read_trace(path)
