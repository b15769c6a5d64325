"""Simulated nodes are whole nodes: pools, policies, tx gossip, the new faults.

Each test runs the real composition (node/core) over the simulator's I/O
and checks what a node does, not how: what the chain holds, what every
pool saw, what the checks catch, and that a seed replays byte for byte
with policies (the learned one included) in the loop.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.research.bench import Workload, measure
from node.scheduling.learned import default_model_sha256
from node.sim.measure import committed_replay
from node.sim.simulator import SimConfig, Simulation, run_simulation

ROOT = Path(__file__).resolve().parents[2]
MIXED = ROOT / "configs" / "workloads" / "mixed.toml"


def _trace(seconds: float, seed: int = 1):  # type: ignore[no-untyped-def]
    return Workload.open(MIXED).trace(seed, seconds)


def _ran(config: SimConfig, seed: int) -> Simulation:
    sim = Simulation(config, seed)
    sim.start()
    while sim.step():
        pass
    return sim


def test_blocks_come_from_the_proposers_pools_in_their_policys_order() -> None:
    trace = _trace(12)
    config = SimConfig(nodes=4, blocks=12, trace=trace, policy="fee")
    sim = _ran(config, 3)
    try:
        result = sim.result()
        assert result.violations == []
        ledger = sim.nodes[0].ledger
        assert ledger is not None
        blocks = [ledger.block(h) for h in range(1, ledger.height + 1)]
        assert all(b is not None and b.header.policy == "fee" for b in blocks)
        txs = [tx for b in blocks if b is not None for tx in b.txs]
        assert len(txs) > 0.8 * len(trace)
        # every tx a client sent to one node reached the others' pools or chains
        proposers = {b.header.proposer for b in blocks if b is not None and b.txs}
        assert len(proposers) >= 3, "blocks with txs come from several proposers"
        metrics = measure(sim.source.trace, committed_replay(sim))  # type: ignore[union-attr]
        assert metrics.included == len({tx.id for tx in txs})
        assert metrics.utility > 0 and metrics.latency_p50_s is not None
    finally:
        sim.close()


def test_clients_reach_only_the_nodes_they_are_sent_to() -> None:
    config = SimConfig(nodes=4, blocks=4, trace=_trace(4), send_to=(2,))
    config.keep_log = True
    sim = _ran(config, 1)
    try:
        submits = [line for line in sim.result().log or [] if line.split()[2] == "submit"]
        assert submits and all(line.split()[1] == "node2" for line in submits)
        ledger = sim.nodes[0].ledger
        assert ledger is not None and any(
            ledger.block(h).txs  # type: ignore[union-attr]
            for h in range(1, ledger.height + 1)
        ), "txs gossiped from node2 reach the other proposers"
    finally:
        sim.close()


def test_same_seed_same_bytes_with_the_learned_policy_in_the_loop() -> None:
    config = SimConfig(
        nodes=4,
        blocks=8,
        trace=_trace(8),
        policy="learned",
        faults=frozenset({"drop", "reorder", "crash", "skew"}),
    )
    config.keep_log = True
    sim = _ran(config, 21)
    try:
        a = sim.result()
        ledger = sim.nodes[0].ledger
        assert ledger is not None
        headers = [ledger.header(h) for h in range(1, ledger.height + 1)]
        assert all(h is not None and h.policy == "learned" for h in headers)
        assert all(h.model_hash == default_model_sha256() for h in headers if h is not None)
    finally:
        sim.close()
    b = run_simulation(config, 21)
    assert a.violations == [] and a.log == b.log
    assert a.event_log_sha256 == b.event_log_sha256
    assert any(line.split()[2] == "txs" for line in a.log or [])


def test_a_torn_crash_restarts_from_what_the_store_kept() -> None:
    seen = 0
    for seed in range(40):
        config = SimConfig(nodes=4, blocks=6, faults=frozenset({"crash"}))
        config.keep_log = True
        sim = Simulation(config, seed)
        if not any(c.torn is not None for c in sim.scenario.crashes):
            continue
        result = sim.run()
        assert result.violations == [], (seed, result.violations)
        kinds = [line.split()[2] for line in result.log or []]
        seen += "torn" in kinds
        assert kinds.count("restart") == len(sim.scenario.crashes)
    assert seen >= 2, "some armed crashes must cut a write"


def test_the_pool_check_catches_a_lost_transaction() -> None:
    sim = _ran(SimConfig(nodes=4, blocks=3, txs_per_block=20), 0)
    try:
        node = sim.nodes[1]
        assert node.core is not None and len(node.core.mempool) > 0
        victim = next(iter(node.core.mempool)).id
        node.core.mempool._entries.pop(victim)  # gone, with no reason recorded
        sim.invariants._check_pool(node)
        assert any("lost 1 accepted" in v for v in sim.invariants.violations)
    finally:
        sim.close()


def test_a_store_that_cannot_reopen_is_a_violation(tmp_path: Path) -> None:
    sim = Simulation(SimConfig(nodes=4, blocks=2), 0)
    node = sim.nodes[0]
    node.path = str(tmp_path / "broken.db")
    Path(node.path).write_bytes(b"not a database" * 100)
    sim.boot(node)
    assert not node.alive
    assert any("could not restart" in v for v in sim.invariants.violations)
    sim.close()


@pytest.mark.parametrize("consensus", ["bft", "poa", "pow"])
def test_every_engine_runs_whole_nodes_with_a_workload(consensus: str) -> None:
    config = SimConfig(consensus=consensus, nodes=4, blocks=6, trace=_trace(6), policy="fee")
    result = run_simulation(config, 2)
    assert result.violations == [] and result.committed_height >= 6


def test_bad_send_to_is_refused() -> None:
    with pytest.raises(ValueError):
        Simulation(SimConfig(nodes=3, send_to=(3,)), 0)


def test_a_pow_node_torn_mid_reorg_restarts_at_the_fork_point() -> None:
    """Seed 351 of the PoW sweep (found by the soak): node 2 dies inside a
    reorg, its store at the fork point; it restarts lower, and catches up."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from sim_sweep import sweep_config

    config = sweep_config("pow", 351)
    config.keep_log = True
    result = run_simulation(config, 351)
    assert result.violations == []
    assert any(line.split()[1:3] == ["node2", "torn"] for line in result.log or [])
