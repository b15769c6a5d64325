"""Ban poisoning against a 4-node BFT chain of real processes.

An attacker with fresh keys connects to node0 and node1 claiming the P2P
ports of node2 and node3 in its Hello, and sends one undecodable byte each
time. It gets itself banned, and nothing else: when node2 and node3 lose
their links and come back, nodes 0 and 1 take them again, and the chain
keeps committing. (Were the bans attached to the claimed addresses, the
network would be cut in two halves of 2 of 4 validators, and halt.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from attacker import Attacker
from nodekit import Cluster, NodeProcess, wait_until


def peer_ids(node: NodeProcess) -> set[str]:
    return {p["node_id"] for p in node.client.peers()}


def test_an_attacker_claiming_honest_listen_addresses_cannot_cut_a_bft_chain(
    cluster_factory: Callable[..., Cluster],
) -> None:
    cluster = cluster_factory("bft", nodes=4, accounts=0)
    cluster.start()
    cluster.wait_height(2)
    targets, victims = cluster.nodes[:2], cluster.nodes[2:]

    async def poison() -> None:
        for victim in victims:
            for target in targets:
                attacker = Attacker.of(
                    target.client, target.home.p2p_port, listen_port=victim.home.p2p_port
                )
                await attacker.connect()
                try:
                    await attacker.send(b"\xc1")  # one undecodable byte
                    assert (await attacker.closed_by_node()).startswith("malformed:")
                finally:
                    await attacker.close()

    asyncio.run(poison())
    for target in targets:
        banned = target.client.metrics()
        assert "ordinet_p2p_bans_total 2.0" in banned, banned
    # the victims lose their links (a restart, a network blip) and come back
    target_ids = [t.home.key.address_hex for t in targets]
    for victim in victims:
        victim.client.admin_partition(target_ids)
    for target in targets:
        wait_until(
            lambda t=target: not peer_ids(t) & {v.home.key.address_hex for v in victims},
            f"{target.name} lost the victims",
        )
    for victim in victims:
        victim.client.admin_heal()
    for target in targets:
        wait_until(
            lambda t=target: {v.home.key.address_hex for v in victims} <= peer_ids(t),
            f"{target.name} takes the victims back",
            60.0,
        )
    height = max(cluster.heights())
    cluster.wait_height(height + 3, deadline_s=60.0)
    cluster.assert_same_chain()
    for target in targets:
        assert "reason=banned" not in target.log_path.read_text()
