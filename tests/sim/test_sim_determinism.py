"""Same seed, same run, byte for byte; another seed, another run."""

from __future__ import annotations

import pytest

from node.sim.simulator import SimConfig, Simulation, run_simulation

FAULTS = {
    "bft": frozenset({"drop", "dup", "reorder", "partition", "crash", "skew", "byzantine"}),
    "poa": frozenset({"drop", "dup", "reorder", "partition", "crash", "skew"}),
    "pow": frozenset({"drop", "dup", "reorder", "partition", "crash", "skew"}),
}


@pytest.mark.parametrize("consensus", ["bft", "poa", "pow"])
def test_same_seed_same_event_log(consensus: str) -> None:
    config = SimConfig(consensus=consensus, nodes=4, blocks=5, faults=FAULTS[consensus])
    config.keep_log = True
    a = run_simulation(config, 11)
    b = run_simulation(config, 11)
    assert a.log is not None and b.log is not None and len(a.log) > 100
    assert a.log == b.log
    assert a.event_log_sha256 == b.event_log_sha256
    assert (a.committed_height, a.sim_time_ms, a.events) == (
        b.committed_height,
        b.sim_time_ms,
        b.events,
    )
    c = run_simulation(config, 12)
    assert c.event_log_sha256 != a.event_log_sha256


def test_the_log_records_commits_and_faults() -> None:
    config = SimConfig(consensus="bft", nodes=4, blocks=3, faults=frozenset({"crash"}))
    config.keep_log = True
    sim = Simulation(config, 3)
    result = sim.run()
    assert result.violations == []
    assert sim.scenario.crashes, "the crash fault must draw at least one crash"
    kinds = {line.split()[2] for line in result.log or []}
    assert {"recv", "timer", "crash", "restart", "commit"} <= kinds
    assert result.committed_height >= 3


def test_no_faults_reaches_the_target_height_quickly_in_simulated_time() -> None:
    for consensus in ("bft", "poa", "pow"):
        result = run_simulation(SimConfig(consensus=consensus, nodes=4, blocks=10), 0)
        assert result.violations == []
        assert result.committed_height >= 10
        assert result.sim_time_ms < 40_000
