"""Example scheduling policy plugin: fee-rate bands, first seen first within a band.

A transaction's band is the power of two its fee rate falls in (fee per
byte 1-2, 2-4, 4-8, ...): a richer band goes first, and inside a band the
earliest arrival goes first, so a small overbid cannot jump the queue.
Load it with ``[scheduling] policy_module = "fee_band_fifo.py"`` and
``policy = "fee-band-fifo"`` in a node config, or ``--policy-module``.
"""

from __future__ import annotations

import numpy as np

from node.scheduling.policy import Policy, TxColumns, register

# Bands are clipped to [0, BANDS): rates under 2**-BAND_OFFSET share band 0.
BANDS = 64
BAND_OFFSET = 32
# One band outweighs any arrival time below this many seconds (~317 years).
BAND_WEIGHT_S = 1e10


@register
class FeeBandFifoPolicy(Policy):
    """Highest fee-rate band first; first seen first within a band."""

    name = "fee-band-fifo"

    def score(self, txs: TxColumns) -> np.ndarray:
        return fee_band(txs.fee_rate) * BAND_WEIGHT_S - np.asarray(txs.arrival_s, np.float64)


def fee_band(fee_rate: np.ndarray) -> np.ndarray:
    """The band index of each fee rate (float64, whole numbers)."""
    rate = np.maximum(np.asarray(fee_rate, dtype=np.float64), np.finfo(np.float64).tiny)
    return np.clip(np.floor(np.log2(rate)) + BAND_OFFSET, 0, BANDS - 1)
