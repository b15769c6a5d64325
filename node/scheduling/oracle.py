"""The oracle: a policy that reads a labelled workload's hidden labels.

It ranks by ``label_priority``: the utility a tx is worth per byte of
block space, with deadline-free txs (which lose nothing by waiting)
discounted. That is the upper bound the learned policy is measured
against, and the same quantity the learned model is trained to predict.
It exists only in the bench: a node never has labels, and
``load_policy`` refuses it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from node.errors import ConfigError
from node.scheduling.policy import Policy, TxColumns, register

#: A tx without a deadline earns its value whenever it is included, so it
#: ranks below a tx of equal value per byte that must make a deadline.
NO_DEADLINE_WEIGHT = 0.1


def label_priority(value: np.ndarray, deadline_s: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Utility per byte, deadline-free txs weighted by NO_DEADLINE_WEIGHT."""
    value = np.asarray(value, dtype=np.float64)
    weight = np.where(np.isnan(np.asarray(deadline_s, dtype=np.float64)), NO_DEADLINE_WEIGHT, 1.0)
    return value * weight / np.maximum(np.asarray(size, dtype=np.float64), 1.0)


@register
class OraclePolicy(Policy):
    """Knows each tx's value and deadline (bench only)."""

    name = "oracle"
    bench_only: ClassVar[bool] = True

    def score(self, txs: TxColumns) -> np.ndarray:
        labels = txs.labels
        if labels is None or "value" not in labels or "deadline_s" not in labels:
            raise ConfigError(
                "the oracle policy needs the hidden labels (value, deadline_s) of a labelled "
                "workload: only `ordinet sched bench` can run it",
                code="oracle_needs_labels",
            )
        return label_priority(labels["value"], labels["deadline_s"], txs.size)
