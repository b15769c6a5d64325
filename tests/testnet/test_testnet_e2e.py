"""End to end, through the real commands: `testnet up --detach` with 4 BFT
nodes, `ordinet load` running all along, a node killed and restarted, the
net cut in halves (BFT stops: every node waits for votes, no height moves) and healed
(progress resumes), `testnet down`. Afterwards every node holds the same
blocks and balances, and every accepted tx is in the chain exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from nodekit import wait_until
from testnetkit import block_ids, heights, ordinet

from node.client import Client
from node.testnet import procs
from node.testnet.manifest import load_manifest
from node.testnet.session import load_wallets


def _start_load(home: Path, report: Path) -> subprocess.Popen[str]:
    args = ["load", "--home", home, "--tps", 100, "--duration", 0, "--out", report]
    return subprocess.Popen(
        [sys.executable, "-m", "node", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def test_up_load_kill_restart_partition_heal_down(net_home: Path) -> None:
    out = ordinet("testnet", "up", "--detach", "--nodes", 4, "--consensus", "bft",
                  "--home", net_home, "--accounts", 32)  # fmt: skip
    manifest = load_manifest(net_home)
    for node in manifest.nodes:
        assert node.rpc_url in out  # each node's URL is printed
    clients = [Client(n.rpc_url, timeout=10.0) for n in manifest.nodes]
    report_path = net_home / "load.json"
    load = _start_load(net_home, report_path)
    try:
        # the load lands: blocks with txs appear
        wait_until(lambda: clients[0].block("latest")["txs"], "a block with load txs")

        # 1. kill node 3: the other three go on; restarted, it catches up
        ordinet("testnet", "kill", 3, "--home", net_home)
        assert load_manifest(net_home).nodes[3].state == "killed"
        survivors = clients[:3]
        h = max(heights(survivors))
        wait_until(lambda: min(heights(survivors)) >= h + 3, "the survivors to commit 3 blocks")
        ordinet("testnet", "restart", 3, "--home", net_home)
        target = max(heights(survivors))
        wait_until(lambda: heights(clients)[3] >= target, "node 3 to catch up")

        # 2. partition 2/2: no side has a quorum, heights stop while rounds go on
        ordinet("testnet", "partition", "0,1/2,3", "--home", net_home)
        wait_until(lambda: all(c.status()["peers"] == 1 for c in clients), "peers cut to 1")
        stalled = max(heights(clients)) + 1  # one block may have been in flight
        wait_until(
            lambda: all(c.consensus()["step"] in ("prevote", "precommit") for c in clients),
            "every node waiting for votes that cannot come",
        )
        # a healthy net commits a block a second: watch several such intervals
        watch_until = time.monotonic() + 8.0
        while time.monotonic() < watch_until:
            assert max(heights(clients)) <= stalled, "a half of the network committed a block"
            time.sleep(0.25)

        # 3. heal: progress resumes everywhere
        ordinet("testnet", "heal", "--home", net_home)
        wait_until(lambda: min(heights(clients)) >= stalled + 2, "progress after the heal")
    finally:
        load.send_signal(signal.SIGINT)  # stop, drain, report
        load_out, _ = load.communicate(timeout=180)
    assert load.returncode == 0, load_out
    report = json.loads(report_path.read_text())
    assert report["accepted"] > 100 and report["lost"] == 0 and report["duplicates"] == 0

    # every node holds the same blocks, and each accepted tx exactly once
    top = max(heights(clients))
    wait_until(lambda: min(heights(clients)) >= top, f"every node at height {top}")
    chains = [block_ids(c, top) for c in clients]
    for other in chains[1:]:
        assert other == chains[0]
    counts = Counter(tx for _, txs in chains[0] for tx in txs)
    assert all(counts[tx] == 1 for tx in report["accepted_ids"])
    assert set(report["accepted_ids"]) <= set(counts)

    # and the same balances and nonces
    addresses = [w.address for w in load_wallets(net_home / "accounts")]
    views = [[(c.account(a)["balance"], c.account(a)["nonce"]) for a in addresses] for c in clients]
    assert all(view == views[0] for view in views[1:])
    assert sum(nonce for _, nonce in views[0]) >= report["accepted"]

    ordinet("testnet", "down", "--home", net_home)
    for node in load_manifest(net_home).nodes:
        assert node.state == "stopped" and node.pid is None
    for node in manifest.nodes:  # the pids of the run are gone
        assert procs.process_state(node.pid, node.home) == procs.GONE
