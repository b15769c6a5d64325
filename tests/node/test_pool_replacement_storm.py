"""A replacement storm against real node processes: one funded sender sends a
tx behind a nonce gap, then hundreds of 10%-bumped replacements of it, one
POST /txs each. Queued txs never commit while their gap is open, so the
pool budgets their replacements: only ``max_queued_replacements`` (4) are
accepted and so relayed; the peer admits no more than those; and once the
gap is filled the last accepted version commits, paying its fee."""

from __future__ import annotations

import re
from collections.abc import Callable

from nodekit import Cluster, wait_until

from node.mempool import MempoolConfig
from node.wallet import Wallet

ATTEMPTS = 300
GAP = 5  # the queued tx carries nonce 5; nonces 0..4 are missing
BUDGET = 4  # MempoolConfig.max_queued_replacements, by default


def _admitted(metrics: str) -> int:
    match = re.search(r"^ordinet_mempool_admitted_total (\S+)$", metrics, re.MULTILINE)
    assert match, "no ordinet_mempool_admitted_total in /metrics"
    return int(float(match.group(1)))


def test_a_storm_of_queued_replacements_is_bounded_on_a_real_node(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory("poa", nodes=2, accounts=1)
    cluster.start()
    node0, node1 = cluster.nodes
    wait_until(lambda: all(n.status()["peers"] >= 1 for n in cluster.nodes), "the nodes to peer")
    sender, to = cluster.accounts[0], Wallet.generate().address
    admitted_before = _admitted(node1.client.metrics())

    fees = [10]
    for _ in range(ATTEMPTS):
        fees.append(fees[-1] * 11 // 10 + 1)  # every bid outbids the last by 10%
    storm = [
        sender.transfer(to=to, amount=1, fee=fee, nonce=GAP, chain_id=cluster.chain_id)
        for fee in fees
    ]
    results = [node0.client.submit([tx])[0] for tx in storm]  # one request each

    budget = BUDGET
    accepted = [i for i, r in enumerate(results) if r["accepted"]]
    assert accepted == list(range(1 + budget)), "the first tx and `budget` replacements"
    assert {r["code"] for r in results[1 + budget :]} == {"queued_replacement_limit"}
    last = storm[budget]

    # the peer gets the last accepted version, and never more than node0 accepted
    wait_until(lambda: node1.client.tx(last.id)["status"] == "pending", "node1 to get the tx")
    assert _admitted(node1.client.metrics()) - admitted_before <= 1 + budget
    assert node1.client.mempool()["size"] == 1

    # the gap filled, the last accepted bid commits: what was replaced paid nothing
    filler = [
        sender.transfer(to=to, amount=1, fee=1, nonce=n, chain_id=cluster.chain_id)
        for n in range(GAP)
    ]
    assert all(r["accepted"] for r in node0.client.submit(filler))
    cluster.wait_committed([tx.id for tx in [*filler, last]])
    assert MempoolConfig().max_queued_replacements == BUDGET
