"""The simulator's checks catch what they are there to catch."""

from __future__ import annotations

from node.sim.invariants import Invariants
from node.sim.simulator import SimConfig, Simulation


def test_byzantine_equivocation_is_caught_as_evidence_and_stays_safe() -> None:
    config = SimConfig(consensus="bft", nodes=4, blocks=6, faults=frozenset({"byzantine"}))
    config.keep_log = True
    sim = Simulation(config, 5)
    result = sim.run()
    assert result.violations == []
    (bad,) = sim.scenario.byzantine
    reporters = {
        int(line.split()[1].removeprefix("node"))
        for line in result.log or []
        if line.split()[2] == "evidence"
    }
    assert reporters - {bad}, "honest nodes must record the double signing"


def test_conflicting_commits_at_one_height_are_a_safety_violation() -> None:
    sim = Simulation(SimConfig(consensus="bft", nodes=2, blocks=1), 0)
    for node in sim.nodes:
        sim.boot(node)
    a, b = sim.nodes
    assert a.ledger is not None and b.ledger is not None
    first = next(iter(sim.source.submissions())).tx
    block_a, _ = a.ledger.build_block([first], proposer=bytes(32), timestamp_ms=5)
    assert block_a.txs == (first,) or list(block_a.txs) == [first]
    block_b, _ = b.ledger.build_block([], proposer=bytes(32), timestamp_ms=6)
    inv = Invariants(sim)
    inv.on_commit(a, block_a)
    inv.on_commit(b, block_a)
    assert inv.violations == []
    inv.on_commit(b, block_b)
    assert any("safety" in v for v in inv.violations)
    inv.on_revert(a, 0, (block_a,))
    assert any("reverted" in v for v in inv.violations)
    for node in sim.nodes:
        sim.crash(node)


def test_a_node_that_never_commits_after_the_heal_is_a_liveness_violation() -> None:
    sim = Simulation(SimConfig(consensus="poa", nodes=3, blocks=2), 0)
    inv = sim.invariants
    inv.finish(10_000)
    assert sum("liveness" in v for v in inv.violations) >= 3
