"""Who proposed what: a run's blocks per proposer, under the policy that ordered them.

A testnet of mixed validators is studied through its blocks: every header
records its proposer and the scheduling policy (and model hash) that
ordered it. ``proposer_stats`` folds the blocks of a run into one row per
node: blocks proposed, txs included, and, for the txs the load generator
sent (it knows their fee and size), fee income, the mean fee rate of the
included txs (fee per byte of encoded tx, averaged over txs) and, when the
load replayed a labelled workload, the utility they earned: a tx's
``value`` if it was committed within ``deadline_s`` of its first send (no
deadline: any time), as ``ordinet sched bench`` counts it.

Mind what a row can say: the proposers share one pool, so a tx a slow
policy leaves behind is included, and credited, by the next proposer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TxFacts:
    """What the load knows of one committed tx of its own."""

    fee: int
    size: int  # encoded bytes
    utility: float | None  # the value it earned; None: the load had no labels


@dataclass
class ProposerStats:
    """One node's share of a run's blocks."""

    node: str  # nodeI, or the proposer id's first hex digits if not a node of the net
    policies: list[str] = field(default_factory=list)  # as its blocks record them
    blocks: int = 0
    txs: int = 0
    load_txs: int = 0  # of ``txs``, those the load sent (fees and rates are theirs)
    fees: int = 0
    fee_rate_sum: float = 0.0
    utility: float | None = None

    @property
    def fee_rate_mean(self) -> float | None:
        return self.fee_rate_sum / self.load_txs if self.load_txs else None

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "policies": self.policies,
            "blocks": self.blocks,
            "txs": self.txs,
            "load_txs": self.load_txs,
            "fees": self.fees,
            "fee_rate_mean": self.fee_rate_mean,
            "utility": self.utility,
        }


def policy_label(policy: Any, model_hash: Any) -> str:
    """A policy as a node or a block reports it: its name, and the first 8 hex
    digits of its model's hash when it has one."""
    if not policy:
        return "-"
    return f"{policy} {str(model_hash)[:8]}" if model_hash else str(policy)


def proposer_stats(
    blocks: Iterable[Mapping[str, Any]],
    node_ids: Sequence[str],
    facts: Mapping[str, TxFacts],
    *,
    labelled: bool = False,
) -> list[ProposerStats]:
    """One row per node of the net (``node_ids`` in index order), then one per
    other proposer seen; ``blocks`` as ``GET /blocks/{height}`` answers."""
    rows = {node_id: ProposerStats(f"node{i}") for i, node_id in enumerate(node_ids)}
    for block in blocks:
        proposer = str(block["proposer"])
        row = rows.get(proposer)
        if row is None:
            row = rows[proposer] = ProposerStats(proposer[:12])
        label = policy_label(block.get("policy"), block.get("model_hash"))
        if label not in row.policies:
            row.policies.append(label)
        row.blocks += 1
        for tx_id in block["txs"]:
            row.txs += 1
            fact = facts.get(tx_id)
            if fact is None:
                continue
            row.load_txs += 1
            row.fees += fact.fee
            row.fee_rate_sum += fact.fee / fact.size
            if fact.utility is not None:
                row.utility = (row.utility or 0.0) + fact.utility
    if labelled:
        for row in rows.values():
            if row.utility is None:
                row.utility = 0.0
    return list(rows.values())
