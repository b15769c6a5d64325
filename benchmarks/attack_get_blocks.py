"""The get_blocks amplification attack, measured: /status stall and RSS growth.

Two node processes (PoA, node0 the one validator, node1 a follower) get a
chain of big blocks (transfers with the largest data payload). Then one
authenticated attacker (a key of its own, the real handshake) sends node0
``--requests`` GetBlocks for the whole chain and reads nothing. While it
runs, a thread polls node0's /status and its RSS (VmRSS). The attack ends
when node0 drops the attacker, or after ``--window`` seconds. Printed:
the worst /status latency (the stall), node0's RSS growth over its level
before the attack, whether the attacker was dropped, and whether node0
kept its honest peer.

The node processes run the code under ``--code`` (default: this checkout),
so the same script measures an old checkout too, for example
``git archive OLD | tar -x -C /tmp/old`` (with the built ``node/_core*.so``
copied in)::

    .venv/bin/python benchmarks/attack_get_blocks.py [--code DIR] [--txs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "node")]

import nodekit  # noqa: E402
from attacker import Attacker, load_big_blocks  # noqa: E402
from nodekit import Cluster, wait_until  # noqa: E402
from test_get_blocks_attack import Watch, peer_ids, rss_bytes  # noqa: E402

from node.p2p.messages import GetBlocks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", type=Path, default=REPO, help="checkout the nodes run")
    parser.add_argument("--txs", type=int, default=20_000, help="1 KiB-data txs loaded")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--window", type=float, default=60.0, help="attack seconds at most")
    args = parser.parse_args()
    nodekit.REPO = args.code.resolve()  # what `python -m node run` imports

    with tempfile.TemporaryDirectory(prefix="attack-") as tmp:
        cluster = Cluster(
            Path(tmp), consensus="poa", nodes=2, validators=1, accounts=args.txs // 50 + 1
        )
        try:
            figures = run(cluster, args)
        finally:
            cluster.close()
    figures["code"] = str(args.code)
    figures["machine"] = f"{platform.machine()}, {os.cpu_count()} cpus, load {os.getloadavg()}"
    print(json.dumps(figures, indent=2))


def run(cluster: Cluster, args: argparse.Namespace) -> dict[str, object]:
    cluster.start()
    node0, node1 = cluster.nodes
    load_big_blocks(node0.client, cluster.accounts, cluster.chain_id, txs=args.txs)
    height = node0.height()
    cluster.wait_height(height)
    baseline = rss_bytes(node0)
    honest = node1.home.key.address_hex
    dropped = False

    async def attack() -> None:
        nonlocal dropped
        attacker = Attacker.of(node0.client, node0.home.p2p_port)
        await attacker.connect()
        try:
            for request_id in range(1, args.requests + 1):
                await attacker.send_frame(GetBlocks(start=1, end=256), request_id)
            try:
                await asyncio.to_thread(
                    wait_until,
                    lambda: attacker.node_id.hex() not in peer_ids(node0),
                    "the attacker dropped",
                    args.window,
                )
                dropped = True
            except AssertionError:
                pass
        finally:
            await attacker.close()

    started = time.monotonic()
    with Watch(node0) as watch:
        asyncio.run(attack())
        time.sleep(1.0)
    return {
        "chain_height": height,
        "chain_db_mb": round(_db_bytes(node0) / 1e6, 1),
        "attack_s": round(time.monotonic() - started, 1),
        "status_stall_s": round(watch.worst_s, 2),
        "rss_before_mb": round(baseline / 1e6),
        "rss_growth_mb": round((watch.peak_rss - baseline) / 1e6),
        "attacker_dropped": dropped,
        "kept_honest_peer": honest in peer_ids(node0),
    }


def _db_bytes(node: nodekit.NodeProcess) -> int:
    data = node.home.path / "data"
    return sum(f.stat().st_size for f in data.glob("chain.db*"))


if __name__ == "__main__":
    main()
