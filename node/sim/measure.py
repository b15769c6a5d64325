"""The scheduling metrics of a simulated network, read off its committed chain.

A run driven by a trace (``SimConfig.trace``) is measured as ``sched
bench`` measures a replay (node/research/bench.py ``measure``): each row
counts as included at the timestamp of the block that holds it on the
committed chain (the longest chain an honest node holds: for BFT and PoA
every honest node holds a prefix of it; for PoW the honest nodes
converged on it), and as admitted when the node its client sent it to
accepted it. The scheduler's cost is the network's block building time
(every proposal every node built, on the stopwatch) per committed block.
"""

from __future__ import annotations

import numpy as np

from node.research.replay import ReplayResult
from node.sim.simulator import Simulation
from node.sim.workload import TraceTxs


def committed_replay(sim: Simulation) -> ReplayResult:
    """What happened to each trace row in ``sim`` (after it ran)."""
    source = sim.source
    if not isinstance(source, TraceTxs):
        raise ValueError("only a simulation driven by a trace has scheduling metrics")
    n = len(source.trace)
    row_of = {tx.id: row for row, tx in enumerate(source.txs)}
    included = np.full(n, np.nan)
    chain = max(
        (sim.nodes[i] for i in sim.honest if sim.nodes[i].ledger is not None),
        key=lambda node: node.ledger.height,  # type: ignore[union-attr]
        default=None,
    )
    height = 0
    if chain is not None and chain.ledger is not None:
        ledger = chain.ledger
        height = ledger.height
        for h in range(1, height + 1):
            block = ledger.block(h)
            assert block is not None
            at_s = block.header.timestamp_ms / 1000
            for tx in block.txs:
                row = row_of.get(tx.id)
                if row is not None:
                    included[row] = at_s
    admitted = np.zeros(n, dtype=bool)
    for row, accepted in sim.admitted.items():
        admitted[row] = accepted
    return ReplayResult(
        admitted=admitted,
        included_s=included,
        blocks=height,
        cpu_s=sum(node.build_s for node in sim.nodes),
    )
