"""Node throughput and latency on this machine, with real node processes.

Two figures sets, printed as a table (and written as JSON with --out):

1. One node (PoA, one validator): transactions per second ACCEPTED through
   POST /txs in batches of 1,000 (one client, back to back), and committed
   transactions per second while the node works through what it accepted.
2. Four validators (BFT), one process each on this machine: committed
   transactions per second at saturation (four clients, one per node, keep
   the mempools full) and commit latency p50/p99 (from the moment POST
   /txs accepted a tx to the moment node 0 showed the block holding it).

All transactions are signed before the clock starts, by many funded
senders (each sender's nonces in order). The load generator and the
nodes share the machine's cores, as they would on a laptop testnet; the
machine is noted with the figures. Usage::

    .venv/bin/python benchmarks/bench_node.py [--txs N] [--senders N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from node.client import Client  # noqa: E402
from node.runtime.home import HomeSet, NodeHome, init_homes  # noqa: E402
from node.wallet import Wallet  # noqa: E402

BATCH = 1000
# keep each node's pool under this many txs (the pool refuses beyond its cap,
# and a refused nonce would strand the sender's later ones)
POOL_HIGH_WATER = 30_000
BLOCK_PARAMS = {
    "block_interval_ms": 500,
    "timeout_commit_ms": 500,
    # generous: a round that times out wastes a whole block's work, and
    # four busy nodes on two cores take seconds to pass a full block around
    "timeout_propose_ms": 10_000,
    "timeout_prevote_ms": 2000,
    "timeout_precommit_ms": 2000,
    "poa_slot_timeout_ms": 4000,
    "max_block_txs": 10_000,
    "max_block_bytes": 4_000_000,
}
NODE_CONFIG: dict[str, dict[str, Any]] = {
    "mempool": {"max_txs": 100_000, "max_bytes": 64 * 2**20},
    "log": {"level": os.environ.get("BENCH_NODE_LOG", "WARNING")},
    "p2p": {"status_interval_s": 1.0},
}


# -- processes ---------------------------------------------------------------------


class NodeRun:
    """One `python -m node run` process."""

    def __init__(self, home: NodeHome, profile: Path | None = None) -> None:
        self.home = home
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.log = open(home.path / "node.log", "ab")  # noqa: SIM115
        # cProfile writes its file when the node exits (it does, on SIGTERM)
        prof = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
        self.proc = subprocess.Popen(
            [sys.executable, *prof, "-m", "node", "run", "--home", str(home.path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO),
            env=env,
        )
        self.client = Client(home.rpc_url, timeout=60.0, batch_size=BATCH)

    def wait_ready(self, deadline_s: float = 60.0) -> None:
        end = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited: see {self.home.path / 'node.log'}")
            try:
                self.client.status()
                return
            except Exception:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.client.close()
        self.log.close()


# -- workload -----------------------------------------------------------------------


def signed_batches(
    homes: HomeSet, total: int, *, batch: int = BATCH, first_nonce: int = 0
) -> list[list[str]]:
    """``total`` transfers as hex, in batches; the senders take turns (every
    sender's nonce n before anyone's n + 1), so each batch is admissible as
    soon as the batches before it were."""
    senders = homes.accounts
    sink = Wallet.generate().address
    chain_id = homes.genesis.chain_id
    flat: list[str] = []
    nonce = first_nonce
    while len(flat) < total:
        for wallet in senders[: total - len(flat)]:
            tx = wallet.transfer(
                to=sink, amount=1, fee=1 + nonce % 7, nonce=nonce, chain_id=chain_id
            )
            flat.append(tx.encode().hex())
        nonce += 1
    return [flat[i : i + batch] for i in range(0, len(flat), batch)]


class BlockWatcher(threading.Thread):
    """Polls a node's head and notes when each height appeared; the blocks'
    contents are fetched afterwards (``fetch``), so that watching costs the
    node little while it is measured."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = Client(url, timeout=60.0)
        self.start_height = self.client.status()["height"]
        self.appeared_s: dict[int, float] = {}
        self.stopped = threading.Event()
        # filled by fetch(): tx id -> when its block appeared; (height, at, txs)
        self.seen_s: dict[str, float] = {}
        self.blocks: list[tuple[int, float, int]] = []

    def run(self) -> None:
        height = self.start_height
        while not self.stopped.is_set():
            head = self.client.status()["height"]
            now_s = time.monotonic()
            for h in range(height + 1, head + 1):
                self.appeared_s[h] = now_s
            height = max(height, head)
            self.stopped.wait(0.02)

    def stop(self) -> None:
        self.stopped.set()
        self.join()

    def fetch(self) -> None:
        for height, at_s in sorted(self.appeared_s.items()):
            txs = self.client.block(height)["txs"]
            for tx_id in txs:
                self.seen_s[tx_id] = at_s
            self.blocks.append((height, at_s, len(txs)))
        self.client.close()


def submit_all(
    client: Client,
    batches: list[list[str]],
    accepted_s: dict[str, float],
    refused: list[Any],
    interval_s: float = 0.0,
) -> None:
    """Submit batches back to back (or one every ``interval_s``), pausing
    while the node's pool is full."""
    start_s = time.monotonic()
    for i, batch in enumerate(batches):
        if interval_s:
            delay_s = start_s + i * interval_s - time.monotonic()
            if delay_s > 0:
                time.sleep(delay_s)
        elif i % 5 == 0:
            while client.status()["mempool_size"] > POOL_HIGH_WATER:
                time.sleep(0.05)
        results = client.submit(batch)
        now_s = time.monotonic()
        for result in results:
            if result["accepted"]:
                accepted_s[result["id"]] = now_s
            else:
                refused.append(result.get("code"))


def wait_drained(clients: list[Client], watcher: BlockWatcher, deadline_s: float = 600) -> float:
    """Wait until every node's pool is empty; the time the last block appeared."""
    end = time.monotonic() + deadline_s
    while any(c.status()["mempool_size"] for c in clients):
        if time.monotonic() > end:
            raise RuntimeError("the nodes did not drain their pools")
        time.sleep(0.1)
    head = clients[0].status()["height"]
    while head not in watcher.appeared_s and head > watcher.start_height:
        time.sleep(0.02)
    return watcher.appeared_s.get(head, time.monotonic())


def saturated_rate(blocks: list[tuple[int, float, int]]) -> float:
    """Committed tx/s while there was work: from the first block with txs to
    the last one (the first block's txs are not counted: they were waiting
    before the window opened)."""
    full = [b for b in blocks if b[2] > 0]
    if len(full) < 2 or full[-1][1] <= full[0][1]:
        return float("nan")
    return sum(b[2] for b in full[1:]) / (full[-1][1] - full[0][1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


# -- the two benchmarks -----------------------------------------------------------------


def bench_single(
    base: Path, total: int, senders: int, profile: Path | None = None
) -> dict[str, Any]:
    homes = init_homes(
        base / "single",
        consensus="poa",
        accounts=senders,
        params=BLOCK_PARAMS,
        config_overrides=NODE_CONFIG,
    )
    batches = signed_batches(homes, total)
    node = NodeRun(homes.nodes[0], profile)
    try:
        node.wait_ready()
        watcher = BlockWatcher(homes.nodes[0].rpc_url)
        watcher.start()
        accepted_s: dict[str, float] = {}
        refused: list[Any] = []
        t0 = time.monotonic()
        submit_all(node.client, batches, accepted_s, refused)
        t_submitted = time.monotonic()
        t_done = wait_drained([node.client], watcher)
        watcher.stop()
        watcher.fetch()
    finally:
        node.stop()
    committed = sum(1 for tx_id in accepted_s if tx_id in watcher.seen_s)
    return {
        "txs": total,
        "accepted": len(accepted_s),
        "refused": len(refused),
        "accepted_tx_per_s": len(accepted_s) / (t_submitted - t0),
        "committed": committed,
        "committed_tx_per_s": committed / (t_done - t0),
        "committed_tx_per_s_saturated": saturated_rate(watcher.blocks),
        "blocks": len(watcher.blocks),
        "max_block_txs": max((b[2] for b in watcher.blocks), default=0),
    }


def bench_bft(
    base: Path,
    total: int,
    senders: int,
    nodes: int,
    profile: Path | None = None,
    paced_rate: int = 1000,
    paced_s: float = 20.0,
) -> dict[str, Any]:
    homes = init_homes(
        base / "bft",
        nodes=nodes,
        consensus="bft",
        accounts=senders,
        params=BLOCK_PARAMS,
        config_overrides=NODE_CONFIG,
    )
    saturating = signed_batches(homes, total)
    levels = -(-total // senders)
    paced_total = int(paced_rate * paced_s)
    paced = signed_batches(homes, paced_total, batch=100, first_nonce=levels)
    runs = [NodeRun(home, profile if home.index == 0 else None) for home in homes.nodes]
    try:
        for run in runs:
            run.wait_ready()
        # every node connected to every other before the load starts
        end = time.monotonic() + 60
        while any(r.client.status()["peers"] < nodes - 1 for r in runs):
            if time.monotonic() > end:
                raise RuntimeError("the nodes did not connect")
            time.sleep(0.1)
        sat = _load_phase(homes, runs, saturating, 0.0)
        interval_s = 100 * nodes / paced_rate
        calm = _load_phase(homes, runs, paced, interval_s)
        heights = [r.client.status()["height"] for r in runs]
        agree = len({r.client.block(min(heights))["hash"] for r in runs}) == 1
    finally:
        for run in runs:
            run.stop()
    return {
        "nodes": nodes,
        "chains_agree": agree,
        "saturated": sat,
        "paced": {"rate_tx_per_s": paced_rate, **calm},
    }


def _load_phase(
    homes: HomeSet, runs: list[NodeRun], batches: list[list[str]], interval_s: float
) -> dict[str, Any]:
    """One client per node submits its share of ``batches``; figures of the phase."""
    nodes = len(runs)
    watcher = BlockWatcher(homes.nodes[0].rpc_url)
    watcher.start()
    accepted_s: dict[str, float] = {}
    refused: list[Any] = []
    shares = [batches[i::nodes] for i in range(nodes)]
    clients = [Client(h.rpc_url, timeout=60.0, batch_size=BATCH) for h in homes.nodes]
    threads = [
        threading.Thread(
            target=submit_all, args=(clients[i], shares[i], accepted_s, refused, interval_s)
        )
        for i in range(nodes)
    ]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_done = wait_drained([r.client for r in runs], watcher)
    watcher.stop()
    watcher.fetch()
    for c in clients:
        c.close()
    latencies = [watcher.seen_s[i] - s for i, s in accepted_s.items() if i in watcher.seen_s]
    total = sum(len(b) for b in batches)
    return {
        "txs": total,
        "accepted": len(accepted_s),
        "refused": len(refused),
        "committed": len(latencies),
        "committed_tx_per_s_overall": len(latencies) / (t_done - t0),
        "committed_tx_per_s_saturated": saturated_rate(watcher.blocks),
        "latency_s_p50": percentile(latencies, 50),
        "latency_s_p99": percentile(latencies, 99),
        "latency_s_mean": statistics.fmean(latencies) if latencies else float("nan"),
        "blocks": len(watcher.blocks),
        "max_block_txs": max((b[2] for b in watcher.blocks), default=0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=60_000, help="transactions per benchmark")
    parser.add_argument("--senders", type=int, default=2_000)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument(
        "--paced-rate", type=int, default=1000, help="BFT latency run: total tx/s offered"
    )
    parser.add_argument("--only", choices=("single", "bft"), default=None)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="a node config option for every node, e.g. consensus.relay=false (repeatable)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep homes and logs here")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--profile", type=Path, default=None, help="run node 0 under cProfile, stats to this file"
    )
    args = parser.parse_args(argv)
    for item in args.set:
        key, _, value = item.partition("=")
        table, _, name = key.partition(".")
        NODE_CONFIG.setdefault(table, {})[name] = tomllib.loads(f"v = {value}")["v"]
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"bench_node: {machine}; {args.txs} txs from {args.senders} senders per run")
    figures: dict[str, Any] = {"machine": machine}
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp:
        base = args.keep or Path(tmp)
        if args.only in (None, "single"):
            s = bench_single(base, args.txs, args.senders, args.profile)
            figures["single_poa"] = s
            print(
                f"1 node PoA   accepted via POST /txs: {s['accepted_tx_per_s']:8.0f} tx/s   "
                f"committed: {s['committed_tx_per_s']:8.0f} tx/s "
                f"(while busy {s['committed_tx_per_s_saturated']:6.0f})   "
                f"({s['committed']}/{s['txs']} txs, {s['blocks']} blocks, "
                f"max {s['max_block_txs']} txs/block, refused {s['refused']})"
            )
        if args.only in (None, "bft"):
            b = bench_bft(base, args.txs, args.senders, args.nodes, args.profile, args.paced_rate)
            figures["bft"] = b
            sat, calm = b["saturated"], b["paced"]
            print(
                f"{b['nodes']} nodes BFT  committed at saturation: "
                f"{sat['committed_tx_per_s_saturated']:6.0f} tx/s (overall "
                f"{sat['committed_tx_per_s_overall']:.0f}, {sat['committed']}/{sat['txs']} txs, "
                f"{sat['blocks']} blocks, max {sat['max_block_txs']} txs/block); latency with "
                f"the queue full: p50 {sat['latency_s_p50']:.2f} s p99 {sat['latency_s_p99']:.2f} s"
            )
            print(
                f"{b['nodes']} nodes BFT  paced at {calm['rate_tx_per_s']} tx/s: committed "
                f"{calm['committed_tx_per_s_overall']:6.0f} tx/s, latency p50 "
                f"{calm['latency_s_p50']:.2f} s p99 {calm['latency_s_p99']:.2f} s "
                f"({calm['committed']}/{calm['txs']} txs); chains agree: {b['chains_agree']}"
            )
            ratio = sat["committed_tx_per_s_saturated"] / 2000
            print(f"             saturation vs the 2,000 tx/s target: x{ratio:.2f}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
