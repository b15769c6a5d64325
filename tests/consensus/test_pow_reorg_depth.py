"""PoW reorgs reach only ``pow_reorg_depth`` blocks deep; side branches below are dropped.

Two miners with depth 3. The ledger keeps undo history 3 blocks deep, so
a branch that forks lower can never be applied: the engine refuses it (a
``PeerMisbehaved`` naming ``reorg_too_deep``, which the node logs), keeps
its chain, and drops side-branch blocks at or below the floor from its
block tree instead of holding them forever.
"""

from __future__ import annotations

from consensus_cluster import Cluster
from test_pow_engine import PARAMS, mine

from node.consensus.events import PeerMisbehaved
from node.consensus.pow import PowEngine

DEPTH = 3


def pow_pair(cluster_factory) -> tuple[Cluster, PowEngine]:  # type: ignore[no-untyped-def]
    c = cluster_factory("pow", n=2, params=PARAMS, reorg_depth=DEPTH)
    c.start(0)
    engine = c.engines[0]
    assert isinstance(engine, PowEngine)
    return c, engine


def refusals(c: Cluster) -> list[str]:
    return [a.reason for a in c.of(0, PeerMisbehaved)]


def test_a_branch_forking_below_the_depth_is_refused(cluster_factory) -> None:
    c, engine = pow_pair(cluster_factory)
    for k in range(1, 7):
        mine(c, 0, 1000 * k)
    c.queue.clear()  # partitioned: node 1 mines its own, longer chain
    for k in range(1, 9):
        mine(c, 1, 1000 * k)
    assert c.ledgers[1].height == 8
    mine_head = c.ledgers[0].head
    c.deliver(20_000, drop=lambda src, dst, msg: src != 1)
    assert c.ledgers[0].height == 6 and c.ledgers[0].head == mine_head
    assert refusals(c) and all("reorg_too_deep" in r or "invalid" in r for r in refusals(c))
    assert "reorg_too_deep" in refusals(c)[0]
    assert all(c.ledgers[1].block(h).hash not in engine.tree for h in range(1, 9))


def test_a_side_branch_that_fell_below_the_depth_is_dropped_and_cannot_win(
    cluster_factory,
) -> None:
    c, engine = pow_pair(cluster_factory)
    mine(c, 0, 1000)
    mine(c, 0, 2000)
    c.deliver(2000)  # both at height 2
    assert c.ledgers[1].height == 2
    mine(c, 0, 3000)
    mine(c, 0, 4000)
    c.queue.clear()
    mine(c, 1, 3100)
    mine(c, 1, 4100)
    c.deliver(5000, drop=lambda src, dst, msg: src != 1)
    side3, side4 = (c.ledgers[1].block(h).hash for h in (3, 4))
    assert {side3, side4} <= set(engine.tree)  # equal work: node 0 keeps its own
    mine(c, 0, 5000)
    mine(c, 0, 6000)  # head 6: floor 3, so the fork at 2 is now out of reach
    c.queue.clear()
    assert c.ledgers[0].revert_floor == 3
    assert side3 not in engine.tree and side4 in engine.tree
    for k in range(5, 8):
        mine(c, 1, 1000 * k + 100)  # node 1's branch gets heavier: 7 blocks
    c.deliver(10_000, drop=lambda src, dst, msg: src != 1)
    assert c.ledgers[0].height == 6 and c.ledgers[0].block(3).hash != side3
    assert any("reorg_too_deep" in r for r in refusals(c))


def test_a_reorg_within_the_depth_still_happens(cluster_factory) -> None:
    c, _ = pow_pair(cluster_factory)
    mine(c, 0, 1000)
    c.deliver(1000)
    for k in range(2, 5):
        mine(c, 0, 1000 * k)
    c.queue.clear()
    for k in range(2, 6):
        mine(c, 1, 1000 * k + 100)  # forks at 1: reverts 3 blocks, the depth
    c.deliver(10_000, drop=lambda src, dst, msg: src != 1)
    assert c.ledgers[0].height == 5
    assert c.ledgers[0].head.hash == c.ledgers[1].head.hash
    assert not refusals(c)
