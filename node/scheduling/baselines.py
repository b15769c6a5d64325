"""Baseline policies beyond fifo and fee: what a learned policy must beat.

- ``fair-fee``: the fee rate, discounted by how much its sender has been
  sending lately: ``fee_rate / (1 + sender_rate / FAIR_RATE_TPS)``, with
  the sender's rate decayed over ``DEFAULT_HALF_LIFE_S`` (the learned
  policy's ``sender_rate_tps`` feature). A sender that floods the pool
  pays for the crowd it makes; one that sends now and then competes on
  fee rate alone. Like the learned policy it keeps a history of every tx
  it has scored, in admission order, and reads no clock.
"""

from __future__ import annotations

import numpy as np

from node.scheduling.features import DEFAULT_HALF_LIFE_S, SenderRates
from node.scheduling.policy import Policy, TxColumns, register

#: The send rate (tx/s) at which a sender's fee rate counts half.
FAIR_RATE_TPS = 0.5


@register
class FairFeePolicy(Policy):
    """Fee rate, discounted by the sender's recent send rate."""

    name = "fair-fee"

    def __init__(self, half_life_s: float = DEFAULT_HALF_LIFE_S) -> None:
        self._rates = SenderRates(half_life_s)

    def score(self, txs: TxColumns) -> np.ndarray:
        rate = self._rates.before(txs)
        return np.asarray(txs.fee_rate, dtype=np.float64) / (1.0 + rate / FAIR_RATE_TPS)
