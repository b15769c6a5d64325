"""Simulator speed: blocks per wall-second of whole simulated BFT networks.

Run as a script: ``python benchmarks/bench_sim.py [--out DIR]``. For 4, 32
and 100 validators it runs the deterministic simulator with no faults and
the built-in users sending 2 and 100 txs per block interval, and prints one
row per run: committed blocks, simulated and wall seconds, their ratio (how
much faster than real time), wall milliseconds per block, blocks and
events per wall-second. It also writes ``sim_speed.png`` (blocks per
wall-second by network size) to ``--out``.

Every figure comes from whole nodes (node/core over the simulator's I/O):
real engines, real ledgers on SQLite, real pools with the fifo policy, tx
gossip between nodes, and real Ed25519 signatures on every vote and
transaction; on this machine, now. The big networks run fewer blocks
(``--blocks-32``, ``--blocks-100``), reported per block.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.sim.simulator import SimConfig, Simulation

TX_RATES = (2, 100)


def measure(validators: int, blocks: int, txs_per_block: int, seed: int = 1) -> dict[str, float]:
    config = SimConfig(
        consensus="bft",
        nodes=validators,
        blocks=blocks,
        txs_per_block=txs_per_block,
        wallets=max(4, txs_per_block),
    )
    sim = Simulation(config, seed)
    started = time.perf_counter()
    result = sim.run()
    wall_s = time.perf_counter() - started
    assert not result.violations, result.violations
    height = result.committed_height
    return {
        "validators": validators,
        "txs_per_block": txs_per_block,
        "blocks": height,
        "sim_s": result.sim_time_ms / 1000,
        "wall_s": wall_s,
        "speedup": (result.sim_time_ms / 1000) / wall_s,
        "wall_ms_per_block": 1000 * wall_s / height,
        "blocks_per_wall_s": height / wall_s,
        "events_per_wall_s": result.events / wall_s,
    }


def plot(rows: list[dict[str, float]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for rate, marker in zip(TX_RATES, ("o", "s"), strict=True):
        mine = [r for r in rows if r["txs_per_block"] == rate]
        ax.plot(
            [r["validators"] for r in mine],
            [r["blocks_per_wall_s"] for r in mine],
            marker=marker,
            label=f"{rate} txs per block",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("BFT validators")
    ax.set_ylabel("blocks per wall-second")
    ax.set_title("Simulated whole nodes: speed")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out / "sim_speed.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks-4", type=int, default=200)
    parser.add_argument("--blocks-32", type=int, default=20)
    parser.add_argument("--blocks-100", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    machine = platform.processor() or platform.machine()
    print(f"# bench_sim on {machine}, Python {platform.python_version()}")
    header = (
        f"{'validators':>10} {'txs/block':>9} {'blocks':>7} {'sim s':>8} {'wall s':>8} "
        f"{'sim/wall':>9} {'wall ms/block':>14} {'blocks/wall s':>14} {'events/wall s':>14}"
    )
    print(header)
    rows = []
    for validators, blocks in ((4, args.blocks_4), (32, args.blocks_32), (100, args.blocks_100)):
        for rate in TX_RATES:
            r = measure(validators, blocks, rate)
            rows.append(r)
            print(
                f"{r['validators']:>10} {r['txs_per_block']:>9} {r['blocks']:>7} "
                f"{r['sim_s']:>8.1f} {r['wall_s']:>8.2f} {r['speedup']:>9.1f} "
                f"{r['wall_ms_per_block']:>14.2f} {r['blocks_per_wall_s']:>14.2f} "
                f"{r['events_per_wall_s']:>14.0f}",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"wrote {plot(rows, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
