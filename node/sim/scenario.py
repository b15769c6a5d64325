"""A simulation scenario: the network model and the faults, drawn from a seed.

``Scenario.generate(rng, ...)`` draws everything that goes wrong in a run
from the run's one ``random.Random``: per-message drop, duplication and
reordering probabilities, partitions (two groups that cannot talk, from a
start to a heal time), crashes (a node stops, its store stays, it restarts
later; half of them cut a store write, see node/sim/storage.py), clock
skew (some nodes' clocks run ahead or behind, for the whole run) and, for
BFT, which validators are Byzantine. Every fault lies inside
``fault_window_ms``; after ``heal_ms`` the network is perfect again, which is
where the liveness clock starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FAULT_KINDS = ("drop", "dup", "reorder", "partition", "crash", "skew", "byzantine")
#: the largest clock error the skew fault gives a node, either way: two
#: skewed clocks differ by less than the 2 s a BFT or PoA block may be
#: stamped ahead of a voter's clock, so skew shifts timestamps without
#: silencing anyone (tests/consensus/test_clock_skew.py covers a worse clock)
MAX_SKEW_MS = 750
#: a torn crash cuts a write after at most this many progress ticks
MAX_TORN_TICKS = 40


@dataclass(frozen=True)
class Latency:
    """Per-message one-way delay in ms: ``uniform`` in [low, high], or
    ``exp`` (low + exponential with mean ``high - low``), or ``fixed`` (low)."""

    kind: str = "uniform"
    low_ms: int = 5
    high_ms: int = 60

    @classmethod
    def parse(cls, text: str) -> Latency:
        """``uniform:5:60``, ``exp:5:60`` or ``fixed:20``."""
        parts = text.split(":")
        try:
            if parts[0] == "fixed" and len(parts) == 2:
                return cls("fixed", int(parts[1]), int(parts[1]))
            if parts[0] in ("uniform", "exp") and len(parts) == 3:
                low, high = int(parts[1]), int(parts[2])
                if 0 <= low <= high:
                    return cls(parts[0], low, high)
        except ValueError:
            pass
        raise ValueError(
            f"latency must be uniform:LOW:HIGH, exp:LOW:HIGH or fixed:MS, not {text!r}"
        )

    def draw(self, rng: random.Random) -> int:
        if self.kind == "uniform":
            return rng.randint(self.low_ms, self.high_ms)
        if self.kind == "exp":
            return self.low_ms + int(rng.expovariate(1.0 / max(1, self.high_ms - self.low_ms)))
        return self.low_ms


@dataclass(frozen=True)
class Partition:
    start_ms: int
    end_ms: int
    group: frozenset[int]  # one side; the other side is everyone else


@dataclass(frozen=True)
class Crash:
    node: int
    start_ms: int
    end_ms: int
    #: None: the process dies between two writes; else it dies inside a
    #: store write after this many progress ticks (node/sim/storage.py)
    torn: int | None = None


@dataclass
class Scenario:
    nodes: int
    latency: Latency = field(default_factory=Latency)
    drop_p: float = 0.0
    dup_p: float = 0.0
    reorder_p: float = 0.0
    reorder_extra_ms: int = 300
    partitions: list[Partition] = field(default_factory=list)
    crashes: list[Crash] = field(default_factory=list)
    byzantine: frozenset[int] = frozenset()
    #: node -> how far its clock is off, in ms (+ ahead, - behind)
    skews: dict[int, int] = field(default_factory=dict)
    fault_window_ms: int = 0

    @property
    def heal_ms(self) -> int:
        """When the last fault has healed (Byzantine validators stay Byzantine)."""
        ends = [p.end_ms for p in self.partitions] + [c.end_ms for c in self.crashes]
        if self.drop_p or self.dup_p or self.reorder_p:
            ends.append(self.fault_window_ms)
        return max(ends, default=0)

    def describe(self) -> str:
        parts = [f"latency={self.latency.kind}:{self.latency.low_ms}:{self.latency.high_ms}"]
        if self.drop_p:
            parts.append(f"drop={self.drop_p:.3f}")
        if self.dup_p:
            parts.append(f"dup={self.dup_p:.3f}")
        if self.reorder_p:
            parts.append(f"reorder={self.reorder_p:.3f}")
        for p in self.partitions:
            parts.append(f"partition={sorted(p.group)}@{p.start_ms}-{p.end_ms}")
        for c in self.crashes:
            torn = "(torn)" if c.torn is not None else ""
            parts.append(f"crash={c.node}@{c.start_ms}-{c.end_ms}{torn}")
        for node, skew in sorted(self.skews.items()):
            parts.append(f"skew={node}:{skew:+d}ms")
        if self.byzantine:
            parts.append(f"byzantine={sorted(self.byzantine)}")
        return " ".join(parts)

    @classmethod
    def generate(
        cls,
        rng: random.Random,
        *,
        nodes: int,
        faults: frozenset[str],
        fault_window_ms: int,
        latency: Latency,
        max_byzantine: int = 0,
        max_crashed: int | None = None,
    ) -> Scenario:
        unknown = faults - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        s = cls(nodes=nodes, latency=latency, fault_window_ms=fault_window_ms)
        window = fault_window_ms
        if "drop" in faults:
            s.drop_p = rng.uniform(0.0, 0.2)
        if "dup" in faults:
            s.dup_p = rng.uniform(0.0, 0.2)
        if "reorder" in faults:
            s.reorder_p = rng.uniform(0.0, 0.3)
        if "byzantine" in faults and max_byzantine > 0:
            count = rng.randint(1, max_byzantine)
            s.byzantine = frozenset(rng.sample(range(nodes), count))
        if "partition" in faults and nodes >= 2:
            for _ in range(rng.randint(1, 2)):
                start = rng.randint(0, window // 2)
                end = min(window, start + rng.randint(window // 8, window // 2))
                size = rng.randint(1, nodes // 2)
                s.partitions.append(
                    Partition(start, end, frozenset(rng.sample(range(nodes), size)))
                )
        if "crash" in faults:
            honest = [i for i in range(nodes) if i not in s.byzantine]
            limit = len(honest) if max_crashed is None else max_crashed
            count = min(limit, rng.randint(1, 2))
            for node in rng.sample(honest, count):
                start = rng.randint(0, window // 2)
                end = min(window, start + rng.randint(window // 10, window // 2))
                torn = rng.randint(1, MAX_TORN_TICKS) if rng.random() < 0.5 else None
                s.crashes.append(Crash(node, start, end, torn))
        if "skew" in faults:
            for node in sorted(rng.sample(range(nodes), rng.randint(1, nodes))):
                s.skews[node] = rng.randint(-MAX_SKEW_MS, MAX_SKEW_MS)
        return s
