"""Simulator speed: simulated time against wall time for BFT networks.

Run as a script: ``python benchmarks/bench_sim.py [--blocks-100 N]``. It
prints one table row per network:

- 4 and 100 validators committing a number of blocks with no faults:
  simulated seconds, wall seconds, their ratio (how much faster than real
  time the network is simulated) and wall milliseconds per block;
- blocks per wall-second for 4 and 32 validators (simulated throughput).

Every figure comes from real engines, real ledgers (in-memory SQLite) and
real Ed25519 signatures, on this machine, now; the 100-validator run is
shorter by default (see --blocks-100) and reported per block.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.sim.simulator import SimConfig, Simulation


def measure(validators: int, blocks: int, seed: int = 1) -> dict[str, float]:
    sim = Simulation(SimConfig(consensus="bft", nodes=validators, blocks=blocks), seed)
    started = time.perf_counter()
    result = sim.run()
    wall_s = time.perf_counter() - started
    assert not result.violations, result.violations
    height = result.committed_height
    return {
        "validators": validators,
        "blocks": height,
        "sim_s": result.sim_time_ms / 1000,
        "wall_s": wall_s,
        "speedup": (result.sim_time_ms / 1000) / wall_s,
        "wall_ms_per_block": 1000 * wall_s / height,
        "blocks_per_wall_s": height / wall_s,
        "events": result.events,
        "events_per_wall_s": result.events / wall_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks-4", type=int, default=1000)
    parser.add_argument("--blocks-32", type=int, default=200)
    parser.add_argument("--blocks-100", type=int, default=50)
    args = parser.parse_args(argv)
    machine = platform.processor() or platform.machine()
    print(f"# bench_sim on {machine}, Python {platform.python_version()}")
    rows = [
        measure(4, args.blocks_4),
        measure(32, args.blocks_32),
        measure(100, args.blocks_100),
    ]
    header = (
        f"{'validators':>10} {'blocks':>7} {'sim s':>9} {'wall s':>8} {'sim/wall':>9} "
        f"{'wall ms/block':>14} {'blocks/wall s':>14} {'events/wall s':>14}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['validators']:>10} {r['blocks']:>7} {r['sim_s']:>9.1f} {r['wall_s']:>8.2f} "
            f"{r['speedup']:>9.1f} {r['wall_ms_per_block']:>14.2f} "
            f"{r['blocks_per_wall_s']:>14.1f} {r['events_per_wall_s']:>14.0f}"
        )
    big = rows[-1]
    print(
        f"# 100 validators x 1,000 blocks would take ~{big['wall_ms_per_block']:.0f} s of wall "
        f"time at the measured per-block cost ({args.blocks_100} blocks measured)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
