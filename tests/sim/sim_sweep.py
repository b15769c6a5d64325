"""The seed sweep shared by the test suite and the soak run."""

from __future__ import annotations

from node.sim.simulator import RunResult, SimConfig, run_simulation

ALL_FAULTS = {
    "bft": frozenset({"drop", "dup", "reorder", "partition", "crash", "skew", "byzantine"}),
    "poa": frozenset({"drop", "dup", "reorder", "partition", "crash", "skew"}),
    "pow": frozenset({"drop", "dup", "reorder", "partition", "crash", "skew"}),
}
NODE_COUNTS = (4, 5, 7)


def sweep_config(consensus: str, seed: int) -> SimConfig:
    """Random faults of every kind; the network size rotates with the seed."""
    return SimConfig(
        consensus=consensus,
        nodes=NODE_COUNTS[seed % len(NODE_COUNTS)],
        blocks=6,
        faults=ALL_FAULTS[consensus],
    )


def sweep(consensus: str, seeds: range) -> list[RunResult]:
    """The runs that violated an invariant (each carries its seed)."""
    failed = []
    for seed in seeds:
        result = run_simulation(sweep_config(consensus, seed), seed)
        if result.violations:
            failed.append(result)
    return failed


def describe(consensus: str, failed: list[RunResult]) -> str:
    lines = []
    for r in failed:
        config = sweep_config(consensus, r.seed)
        faults = ",".join(sorted(config.faults))
        lines.append(
            f"seed {r.seed}: {r.violations[:3]}\n  replay: ordinet sim --consensus {consensus} "
            f"--nodes {config.nodes} --blocks {config.blocks} --seed {r.seed} --faults {faults}"
        )
    return "\n".join(lines)
