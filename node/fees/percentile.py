"""The geth-style baseline: a percentile of the cheapest txs of recent blocks.

geth's gas price oracle (``eth/gasprice``, behind ``eth_gasPrice`` and
``eth_maxPriorityFeePerGas``; ``eth_feeHistory`` serves the same
per-block percentiles to wallets) takes the ``SAMPLE_TXS`` lowest prices of
each of the last ``CHECK_BLOCKS`` blocks, sorts them and answers the one at
its percentile (60 by default). Here the percentile is the asked confidence;
like geth, the answer does not depend on the target: the oracle has none.
A stretch of empty blocks answers the last price.
"""

from __future__ import annotations

import numpy as np

from node.fees.estimator import FeeEstimator

CHECK_BLOCKS = 20
SAMPLE_TXS = 3


class PercentileEstimator(FeeEstimator):
    name = "percentile"

    def __init__(self, check_blocks: int = CHECK_BLOCKS, sample_txs: int = SAMPLE_TXS) -> None:
        super().__init__()
        self.check_blocks = check_blocks
        self.sample_txs = sample_txs
        self._last_rate = 0.0

    def fee_rate(self, blocks: int, confidence: float) -> float:
        recent = list(self.market.blocks)[-self.check_blocks :]
        samples = [np.sort(b.fee_rates)[: self.sample_txs] for b in recent if len(b.fee_rates)]
        if not samples:
            return self._last_rate
        values = np.sort(np.concatenate(samples))
        # geth: results[(len(results) - 1) * percentile / 100]
        self._last_rate = float(values[int((len(values) - 1) * confidence)])
        return self._last_rate
