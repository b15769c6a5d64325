"""The replacement-storm figure of issue 11: queued replacements accepted
(and so relayed) out of N attempted, against two real node processes.

    python benchmarks/replacement_storm.py [--attempts N] [--senders K]

Each of K funded senders sends one tx behind a nonce gap (nonce 5, nonces
0..4 missing), then N 10%-bumped replacements of it, one POST /txs each, to
node0 of a 2-node PoA net. It prints, per run: replacements accepted by
node0, txs node1 admitted (what gossip carried), node0's P2P bytes out,
and the storm's rate. Nothing is asserted (tests/node/
test_pool_replacement_storm.py is the test); run it before and after a
change to the pool's rules to compare.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "node"))

from nodekit import Cluster, wait_until

from node.wallet import Wallet

GAP = 5


def _metric(metrics: str, name: str) -> float:
    total = 0.0
    for match in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", metrics, re.MULTILINE):
        total += float(match.group(1))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=300, help="replacements per sender")
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp), consensus="poa", nodes=2, accounts=args.senders)
        try:
            cluster.start()
            node0, node1 = cluster.nodes
            wait_until(lambda: all(n.status()["peers"] >= 1 for n in cluster.nodes), "peers")
            to = Wallet.generate().address
            admitted0 = _metric(node1.client.metrics(), "ordinet_mempool_admitted_total")
            bytes0 = _metric(node0.client.metrics(), "ordinet_p2p_bytes_out_total")
            accepted = attempted = 0
            started = time.monotonic()
            for sender in cluster.accounts:
                fee = 10
                for i in range(args.attempts + 1):
                    tx = sender.transfer(
                        to=to, amount=1, fee=fee, nonce=GAP, chain_id=cluster.chain_id
                    )
                    [result] = node0.client.submit([tx])
                    if i:
                        attempted += 1
                        accepted += bool(result["accepted"])
                    fee = fee * 11 // 10 + 1
            elapsed = time.monotonic() - started
            time.sleep(2.0)  # let gossip settle before reading node1 (a figure, not a test)
            admitted = _metric(node1.client.metrics(), "ordinet_mempool_admitted_total") - admitted0
            sent = _metric(node0.client.metrics(), "ordinet_p2p_bytes_out_total") - bytes0
        finally:
            cluster.close()
    print(f"replacements accepted by node0: {accepted} of {attempted} attempted")
    print(f"txs node1 admitted from gossip: {admitted:.0f}")
    print(f"node0 P2P bytes out during the storm: {sent / 1e3:.1f} kB")
    print(f"storm: {attempted / elapsed:.0f} replacements/s over {elapsed:.1f} s")


if __name__ == "__main__":
    main()
