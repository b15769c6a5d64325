"""The oracles: policies that read a labelled workload's hidden labels.

Both rank by what a tx is worth (``label_worth``: its value, weighted by
how little it can wait) and exist only in the bench: a node never has
labels, and ``load_policy`` refuses them.

- ``label-greedy`` scores at admission, like every other policy, and lets
  the mempool's heap walk take the best score first. It knows the labels
  but is as blind as the others to nonce chains (a low-value tx can hold
  up its sender's urgent successors) and to deadlines that pass while a
  tx waits.
- ``oracle`` re-scores at build time: a tx that can no longer make its
  deadline is worth nothing, and a block is built by the package walk
  (``baselines.package_order``), so a sender's first tx inherits its best
  successors' worth. It is a strong heuristic, not an optimum: the LP
  bound (``bound.py``) is the true upper bound of every policy.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from node.errors import ConfigError
from node.scheduling.baselines import package_order
from node.scheduling.policy import BlockLimits, Policy, TxColumns, register

#: A tx without a deadline earns its value whenever it is included, so it
#: ranks below a tx of equal value per byte that must make a deadline.
NO_DEADLINE_WEIGHT = 0.1
#: A deadline up to this counts in full; a longer one can wait, and counts
#: by URGENT_DEADLINE_S / deadline.
URGENT_DEADLINE_S = 20.0


def label_worth(value: np.ndarray, deadline_s: np.ndarray) -> np.ndarray:
    """A tx's value weighted by how little it can wait: in full with a
    deadline up to ``URGENT_DEADLINE_S``, by ``URGENT_DEADLINE_S / deadline``
    with a longer one, by ``NO_DEADLINE_WEIGHT`` without. The oracles rank
    by it and the learned model is trained to predict it."""
    value = np.asarray(value, dtype=np.float64)
    deadline = np.asarray(deadline_s, dtype=np.float64)
    has = ~np.isnan(deadline)
    weight = np.full(len(value), NO_DEADLINE_WEIGHT)
    weight[has] = np.minimum(1.0, URGENT_DEADLINE_S / np.maximum(deadline[has], 1e-9))
    return value * weight


def in_time(latency_s: np.ndarray, deadline_s: np.ndarray) -> np.ndarray:
    """Whether a tx included ``latency_s`` after its arrival made its
    deadline (none: always): the bench's metric and the oracle's expiry."""
    deadline = np.asarray(deadline_s, dtype=np.float64)
    has = ~np.isnan(deadline)
    return ~has | (np.asarray(latency_s, dtype=np.float64) <= np.where(has, deadline, 0.0))


def label_priority(value: np.ndarray, deadline_s: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``label_worth`` per byte of block space."""
    return label_worth(value, deadline_s) / np.maximum(np.asarray(size, dtype=np.float64), 1.0)


#: What the build-time oracle reads: the trace arrival too (the pool stamps admission).
ORACLE_LABELS = ("value", "deadline_s", "arrival_s")


def _labels(txs: TxColumns, policy: str, needed: tuple[str, ...]) -> dict[str, np.ndarray]:
    labels = txs.labels
    if labels is None or any(k not in labels for k in needed):
        raise ConfigError(
            f"the {policy} policy needs the hidden labels ({', '.join(needed)}) of a "
            "labelled workload: only `ordinet sched bench` can run it",
            code="oracle_needs_labels",
        )
    return {k: np.asarray(labels[k]) for k in needed}


@register
class LabelGreedyPolicy(Policy):
    """Knows each tx's worth at admission (bench only)."""

    name = "label-greedy"
    bench_only: ClassVar[bool] = True

    def score(self, txs: TxColumns) -> np.ndarray:
        labels = _labels(txs, self.name, ("value", "deadline_s"))
        return label_priority(labels["value"], labels["deadline_s"], txs.size)


@register
class OraclePolicy(Policy):
    """Knows each tx's worth and deadline, and re-scores at build time (bench only)."""

    name = "oracle"
    bench_only: ClassVar[bool] = True

    def score(self, txs: TxColumns) -> np.ndarray:
        labels = _labels(txs, self.name, ORACLE_LABELS)
        return label_priority(labels["value"], labels["deadline_s"], txs.size)

    def order(
        self, pending: TxColumns, scores: np.ndarray, limits: BlockLimits, now_s: float
    ) -> list[int] | None:
        # the labels travel with each pooled tx (a refused replacement never
        # touches them); on time by the bench metric's own test
        if len(pending) == 0:
            return []
        labels = _labels(pending, self.name, ORACLE_LABELS)
        latency = now_s - labels["arrival_s"].astype(np.float64)
        on_time = in_time(latency, labels["deadline_s"])
        worth = np.where(on_time, label_worth(labels["value"], labels["deadline_s"]), 0.0)
        return package_order(pending, worth, limits)
