"""Ratio report: each fast path against its pure-Python reference, in one run.

Run from the repository root (``make bench`` does)::

    python benchmarks/report.py [--repeats N] [--out DIR] [--only SUBSTRING]

For every :class:`Case` it builds the inputs once, times the reference and
the Rust path alternately (best of ``--repeats`` runs each, wall time with
``time.perf_counter`` and CPU time of all threads with
``time.process_time``), checks that both gave the same answer, and prints
a row. It then writes ``DIR/crypto.json`` and a bar chart of the ratios,
``DIR/crypto.png``.

Only ratios measured in the same run are reported, never absolute targets
asserted: the machines are shared and noisy, and a ratio cancels most of
that. To add a row, append a :class:`Case` to :data:`CASES`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

from node import crypto

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "bench-results"


@dataclass(frozen=True)
class Workload:
    """Two zero-argument calls over the same, already built, inputs."""

    reference: Callable[[], object]
    rust: Callable[[], object]


@dataclass(frozen=True)
class Case:
    """One row of the report: what is measured, against what, and the goal."""

    name: str
    reference_name: str
    target_ratio: float
    prepare: Callable[[], Workload]
    """Builds the inputs (not timed) and returns the two calls to compare."""


@dataclass(frozen=True)
class Timing:
    """Best wall time and best CPU time (all threads) of one side."""

    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class Result:
    name: str
    reference_name: str
    reference: Timing
    rust: Timing
    target_ratio: float

    @property
    def reference_s(self) -> float:
        return self.reference.wall_s

    @property
    def rust_s(self) -> float:
        return self.rust.wall_s

    @property
    def ratio(self) -> float:
        """Wall-clock speed-up: the figure the target is about."""
        return self.reference.wall_s / self.rust.wall_s

    @property
    def cpu_ratio(self) -> float:
        """How much less CPU work the Rust path needs (all its threads added
        up). Unlike the wall-clock ratio it hardly moves when other jobs load
        the machine; on an idle machine the wall-clock ratio of a parallel
        path can reach up to this figure times the cores it uses."""
        return self.reference.cpu_s / self.rust.cpu_s

    @property
    def met(self) -> bool:
        return self.ratio >= self.target_ratio

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "reference": self.reference_name,
            "reference_s": self.reference.wall_s,
            "rust_s": self.rust.wall_s,
            "ratio": self.ratio,
            "reference_cpu_s": self.reference.cpu_s,
            "rust_cpu_s": self.rust.cpu_s,
            "cpu_ratio": self.cpu_ratio,
            "target_ratio": self.target_ratio,
            "met": self.met,
        }


# --- the crypto workloads (also used by bench_crypto.py) -------------------

MERKLE_LEAVES = 1 << 20
LEAF_SIZE = 32
SIGNATURES = 10_000
MESSAGES = 100_000
MESSAGE_SIZE = 64


def python_merkle_root(buf: bytes, item_size: int) -> bytes:
    """RFC 6962 root of fixed-size leaves, as one would write it with hashlib:
    level by level, a lone last node promoted."""
    sha256 = hashlib.sha256
    level = [
        sha256(b"\x00" + buf[i : i + item_size]).digest() for i in range(0, len(buf), item_size)
    ]
    if not level:
        return sha256(b"").digest()
    while len(level) > 1:
        parents = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def merkle_workload() -> Workload:
    leaves = random.Random(1).randbytes(MERKLE_LEAVES * LEAF_SIZE)
    return Workload(
        reference=lambda: python_merkle_root(leaves, LEAF_SIZE),
        rust=lambda: crypto.merkle_root_packed(leaves, LEAF_SIZE),
    )


def signed_messages(count: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """`count` transactions-sized messages, each signed by its own key."""
    rng = random.Random(2)
    keys, msgs, sigs = [], [], []
    for _ in range(count):
        seed = rng.randbytes(crypto.SEED_SIZE)
        msg = rng.randbytes(120)
        keys.append(crypto.keypair_from_seed(seed)[1])
        msgs.append(msg)
        sigs.append(crypto.sign(seed, msg))
    return keys, msgs, sigs


def pynacl_verify_all(
    keys: list[nacl.signing.VerifyKey], msgs: list[bytes], sigs: list[bytes]
) -> list[bool]:
    verdicts = []
    for key, msg, sig in zip(keys, msgs, sigs, strict=True):
        try:
            key.verify(msg, sig)
            verdicts.append(True)
        except nacl.exceptions.BadSignatureError:
            verdicts.append(False)
    return verdicts


def verify_batch_workload() -> Workload:
    keys, msgs, sigs = signed_messages(SIGNATURES)
    # The reference gets its key objects built in advance, outside the timing.
    nacl_keys = [nacl.signing.VerifyKey(key) for key in keys]
    return Workload(
        reference=lambda: pynacl_verify_all(nacl_keys, msgs, sigs),
        rust=lambda: crypto.verify_batch(keys, msgs, sigs),
    )


def messages() -> list[bytes]:
    rng = random.Random(3)
    return [rng.randbytes(MESSAGE_SIZE) for _ in range(MESSAGES)]


def hashlib_loop(items: list[bytes]) -> list[bytes]:
    return [hashlib.sha256(item).digest() for item in items]


def sha256_many_workload() -> Workload:
    items = messages()
    return Workload(reference=lambda: hashlib_loop(items), rust=lambda: crypto.sha256_many(items))


def sha256_many_packed_workload() -> Workload:
    items = messages()
    buf = b"".join(items)
    return Workload(
        reference=lambda: b"".join(hashlib_loop(items)),
        rust=lambda: crypto.sha256_many_packed(buf, MESSAGE_SIZE),
    )


CASES: list[Case] = [
    Case(
        name="merkle_root_packed, 2^20 x 32 B leaves",
        reference_name="hashlib, level by level",
        target_ratio=25.0,
        prepare=merkle_workload,
    ),
    Case(
        name=f"verify_batch, {SIGNATURES:,} signatures",
        reference_name="PyNaCl verify loop",
        target_ratio=5.0,
        prepare=verify_batch_workload,
    ),
    Case(
        name=f"sha256_many, {MESSAGES:,} x {MESSAGE_SIZE} B",
        reference_name="hashlib loop",
        target_ratio=4.0,
        prepare=sha256_many_workload,
    ),
    Case(
        name=f"sha256_many_packed, {MESSAGES:,} x {MESSAGE_SIZE} B",
        reference_name="hashlib loop + join",
        target_ratio=4.0,
        prepare=sha256_many_packed_workload,
    ),
]


# --- running and reporting --------------------------------------------------


def timed(call: Callable[[], object]) -> tuple[Timing, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    answer = call()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), answer


def best(a: Timing, b: Timing) -> Timing:
    return Timing(min(a.wall_s, b.wall_s), min(a.cpu_s, b.cpu_s))


def run_case(case: Case, repeats: int) -> Result:
    workload = case.prepare()
    reference = rust = Timing(float("inf"), float("inf"))
    for _ in range(repeats):
        # Alternate the two so that a burst of load on the machine hits both.
        timing, expected = timed(workload.reference)
        reference = best(reference, timing)
        timing, answer = timed(workload.rust)
        rust = best(rust, timing)
        if answer != expected:
            raise AssertionError(f"{case.name}: the Rust path disagrees with the reference")
    return Result(case.name, case.reference_name, reference, rust, case.target_ratio)


def format_row(cells: list[str], widths: list[int]) -> str:
    first, *rest = cells
    return "  ".join(
        [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
    )


HEADER = ["case", "reference", "reference s", "rust s", "ratio", "target", "met", "cpu ratio"]


def row_cells(result: Result) -> list[str]:
    return [
        result.name,
        result.reference_name,
        f"{result.reference_s:.4f}",
        f"{result.rust_s:.4f}",
        f"{result.ratio:.1f}x",
        f">= {result.target_ratio:g}x",
        "yes" if result.met else "NO",
        f"{result.cpu_ratio:.1f}x",
    ]


def print_table(results: list[Result]) -> None:
    rows = [HEADER, *(row_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    print()
    print(format_row(HEADER, widths))
    print(format_row(["-" * w for w in widths], widths))
    for row in rows[1:]:
        print(format_row(row, widths))


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def write_json(results: list[Result], path: Path) -> None:
    document = {"machine": machine(), "cases": [r.to_json() for r in results]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def write_chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.9 * len(results)))
    names = [r.name for r in results]
    positions = range(len(results))
    colors = ["#2e7d32" if r.met else "#c62828" for r in results]
    ax.barh(positions, [r.ratio for r in results], color=colors, height=0.6)
    for y, r in zip(positions, results, strict=True):
        ax.plot([r.target_ratio] * 2, [y - 0.4, y + 0.4], color="black", linewidth=2)
        label = f"{r.ratio:.1f}x (cpu {r.cpu_ratio:.1f}x)"
        ax.annotate(label, (r.ratio, y), xytext=(4, -4), textcoords="offset points")
    widest = max([r.ratio for r in results] + [r.target_ratio for r in results], default=1.0)
    ax.set_xlim(0, widest * 1.4)  # room for the labels
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over the Python reference (black bar: target)")
    load = machine()["load_average_1m"]
    load_note = f", load average {load:.1f}" if isinstance(load, float) else ""
    ax.set_title(f"node.crypto vs pure Python, same run ({os.cpu_count()} CPUs{load_note})")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (best kept)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for the results")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args(argv)

    cases = [case for case in CASES if args.only in case.name]
    results = []
    for number, case in enumerate(cases, start=1):
        print(f"[{number}/{len(cases)}] {case.name} vs {case.reference_name} ...", flush=True)
        result = run_case(case, args.repeats)
        print(
            f"      reference {result.reference_s:.4f} s, rust {result.rust_s:.4f} s, "
            f"ratio {result.ratio:.1f}x (target {result.target_ratio:g}x), "
            f"cpu ratio {result.cpu_ratio:.1f}x",
            flush=True,
        )
        results.append(result)

    print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(results, args.out / "crypto.json")
    write_chart(results, args.out / "crypto.png")
    met = sum(r.met for r in results)
    print(f"\n{met}/{len(results)} targets met; wrote {args.out / 'crypto.json'} and crypto.png")
    load, cpus = machine()["load_average_1m"], os.cpu_count() or 1
    if isinstance(load, float) and load > cpus:
        print(
            f"note: the machine was busy (load average {load:.1f} on {cpus} CPUs); wall-clock "
            "ratios of the parallel Rust paths understate, the cpu ratios hardly move"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
