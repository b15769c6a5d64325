"""Benching policies on a simulated network: ``sched bench --network N``.

The plain bench replays a trace through one pool under fixed block
production. Here the same trace runs through N whole simulated nodes
(node/sim): every validator has its own pool with the policy under test,
clients send each tx to one node, the nodes gossip txs with simulated
latency, and each block is built from its proposer's pool and decided by
the engine. The rows are then measured on the committed chain exactly as
a replay is (node/sim/measure.py, ``bench.measure``), so the tables and
``results.json`` have the same columns. A run is deterministic from its
seed: the network's randomness (latencies, mining) comes from it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.errors import ConfigError
from node.research.replay import BlockProduction, ReplayResult
from node.research.trace import Trace

#: engines a network bench runs on
NETWORK_ENGINES = ("bft", "poa", "pow")


@dataclass(frozen=True)
class NetworkSpec:
    """The simulated network a bench runs its policies on."""

    validators: int
    consensus: str = "bft"
    latency: str = "uniform:5:60"

    def __post_init__(self) -> None:
        from node.sim.scenario import Latency

        if self.validators < 1:
            raise ConfigError("--network needs at least 1 validator", code="bad_network")
        if self.consensus not in NETWORK_ENGINES:
            raise ConfigError(
                f"--consensus must be one of {', '.join(NETWORK_ENGINES)}, not {self.consensus!r}",
                code="bad_network",
            )
        try:
            Latency.parse(self.latency)
        except ValueError as exc:
            raise ConfigError(f"--latency: {exc}", code="bad_network") from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def network_replay(
    trace: Trace,
    policy: str,
    production: BlockProduction,
    network: NetworkSpec,
    *,
    seed: int,
    model_path: str | Path | None = None,
    model_hash: bytes | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Run ``trace`` through the simulated ``network``, every node under
    ``policy``; what happened to each row, read off the committed chain."""
    from node.sim.measure import committed_replay
    from node.sim.scenario import Latency
    from node.sim.simulator import SimConfig, Simulation

    limits = production.limits
    blocks = production.block_count(trace)
    config = SimConfig(
        consensus=network.consensus,
        nodes=network.validators,
        blocks=max(1, blocks),
        latency=Latency.parse(network.latency),
        block_interval_ms=max(1, round(production.interval_s * 1000)),
        trace=trace,
        policy=policy,
        model_path=None if model_path is None else str(model_path),
        model_hash=model_hash.hex() if isinstance(model_hash, bytes) else model_hash,
        block_txs=limits.max_txs,
        block_bytes=limits.max_bytes,
    )
    sim = Simulation(config, seed)
    try:
        sim.start()
        height = 0
        while sim.step():
            reached = sim.invariants.committed_height()
            if progress is not None and reached != height:
                progress(min(reached, blocks))
            height = reached
        result = sim.result()
        if result.violations:
            raise RuntimeError(
                f"the simulated network broke an invariant (seed {seed}, policy {policy}): "
                f"{result.violations[:3]}"
            )
        return committed_replay(sim)
    finally:
        sim.close()
