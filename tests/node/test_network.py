"""Four real validator processes on loopback, BFT and PoA: they agree on one
chain, survive a SIGKILL, a late node syncs the whole chain, and a node cut
off by a partition catches up after the heal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from nodekit import Cluster, NodeProcess, wait_until

from node.wallet import Wallet

START_BALANCE = 10**12


def _send_round(
    cluster: Cluster, nodes: list[NodeProcess], recipients: list[bytes], per_sender: int
) -> tuple[list[bytes], dict[bytes, int]]:
    """Each account sends ``per_sender`` transfers, each account through a
    different node; the expected balance change of every address."""
    delta: dict[bytes, int] = {}
    ids: list[bytes] = []
    batches: dict[int, list] = {i: [] for i in range(len(nodes))}
    for k, sender in enumerate(cluster.accounts):
        for j in range(per_sender):
            to = recipients[(k + j) % len(recipients)]
            amount, fee = 100 + j, 1 + (k % 3)
            tx = cluster.transfer(sender, to, amount, fee)
            batches[k % len(nodes)].append(tx)
            ids.append(tx.id)
            delta[sender.address] = delta.get(sender.address, 0) - amount - fee
            delta[to] = delta.get(to, 0) + amount
    for i, txs in batches.items():
        if txs:
            cluster.submit(nodes[i], txs)
    return ids, delta


def _check_balances(
    cluster: Cluster, nodes: list[NodeProcess], expected: dict[bytes, int], recipients: list[bytes]
) -> None:
    """Every node reports the same balances; senders and recipients moved as sent."""
    addresses = [w.address for w in cluster.accounts] + recipients
    views = [cluster.balances(node, addresses) for node in nodes]
    for node, view in zip(nodes[1:], views[1:], strict=True):
        assert view == views[0], f"{node.name} disagrees with {nodes[0].name} on balances"
    for address, (balance, _) in zip(addresses, views[0], strict=True):
        start = START_BALANCE if address in {w.address for w in cluster.accounts} else 0
        # fees go to proposers, never to senders or these recipients
        assert balance == start + expected.get(address, 0)


@pytest.mark.parametrize("consensus", ["bft", "poa"])
def test_four_validators_agree_survive_a_kill_and_a_late_node_syncs(
    cluster_factory: Callable[..., Cluster], consensus: str
) -> None:
    # small sync ranges, so that catching up takes several requests; the
    # PoA network relays proposals too (both relay modes run somewhere)
    config = {
        "sync": {"batch_blocks": 4},
        "consensus": {"relay": "all" if consensus == "poa" else "votes"},
    }
    cluster = cluster_factory(consensus, nodes=5, validators=4, accounts=8, config=config)
    validators = cluster.nodes[:4]
    late = cluster.nodes[4]
    cluster.start([0, 1, 2, 3])
    cluster.wait_height(2, validators)

    # 1. Transactions through different nodes land in the same blocks everywhere.
    recipients = [Wallet.generate().address for _ in range(4)]
    ids, delta = _send_round(cluster, validators, recipients, per_sender=4)
    cluster.wait_committed(ids, validators)
    cluster.assert_same_chain(validators)
    _check_balances(cluster, validators, delta, recipients)
    committed_in = {validators[0].client.tx(i)["height"] for i in ids}
    for node in validators[1:]:
        assert {node.client.tx(i)["height"] for i in ids} == committed_in

    # 2. A validator killed with SIGKILL: the others go on without it ...
    victim = validators[3]
    survivors = validators[:3]
    victim.kill()
    more_ids, more_delta = _send_round(cluster, survivors, recipients, per_sender=2)
    cluster.wait_committed(more_ids, survivors)
    for address, change in more_delta.items():
        delta[address] = delta.get(address, 0) + change
    # ... and once restarted it catches up and keeps committing with them.
    victim.start()
    victim.wait_ready()
    target = max(cluster.heights(survivors))
    cluster.wait_height(target, [victim])
    cluster.wait_height(target + 3, validators)
    cluster.assert_same_chain(validators)
    _check_balances(cluster, validators, delta, recipients)

    # 3. A node started late (not a validator) syncs the whole chain.
    cluster.wait_height(20, validators)
    late.start()
    late.wait_ready()
    assert late.status()["validator"] is False
    target = max(cluster.heights(validators))
    cluster.wait_height(target, [late])
    upto = cluster.assert_same_chain(cluster.nodes)
    assert upto >= target
    _check_balances(cluster, cluster.nodes, delta, recipients)

    # 4. Back from a partition: cut validator 2 off (admin calls on both sides);
    # the other three (a quorum) go on; after the heal it catches up.
    cut = validators[2]
    rest = [n for n in cluster.nodes if n is not cut]
    cut_id = cut.status()["node_id"]
    for node in rest:
        node.client.admin_partition([cut_id])
    cut.client.admin_partition([n.status()["node_id"] for n in rest])
    wait_until(lambda: cut.status()["peers"] == 0, "the cut node has no peers")
    target = max(cluster.heights(rest)) + 3
    cluster.wait_height(target, rest)
    assert cut.height() < target
    for node in cluster.nodes:
        node.client.admin_heal()
    cluster.wait_height(target, [cut])
    cluster.wait_height(target + 2, cluster.nodes)
    cluster.assert_same_chain(cluster.nodes)
