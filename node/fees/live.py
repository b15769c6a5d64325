"""A node's fee estimator: fed at each commit, asked by GET /fees/estimate.

The node keeps one ``LiveFees`` and calls ``on_committed`` once per
committed block (after the mempool's ``on_block``); the API's
``fee_estimate`` delegates to ``estimate``. It answers with the shipped
fee model (``QuantileEstimator``) unless given another estimator.
"""

from __future__ import annotations

from typing import Protocol

from node.fees.estimator import Estimate, FeeEstimator, check_query
from node.fees.quantile import QuantileEstimator
from node.fees.views import block_view, pool_view
from node.mempool import Mempool
from node.scheduling.policy import BlockLimits
from node.types import Block, Transaction


class _Limits(Protocol):
    """The chain's block limits (a ``Ledger``)."""

    @property
    def max_block_txs(self) -> int: ...

    @property
    def max_block_bytes(self) -> int: ...


def transfer_size(chain_id: str, data_bytes: int = 0) -> int:
    """The encoded size of a transfer on ``chain_id`` carrying ``data_bytes``."""
    tx = Transaction(
        chain_id=chain_id,
        sender=bytes(32),
        nonce=0,
        recipient=bytes(32),
        amount=0,
        fee=0,
        data=bytes(data_bytes),
    )
    return tx.size


class LiveFees:
    """The estimator a node feeds and the API asks."""

    def __init__(self, estimator: FeeEstimator | None = None) -> None:
        self.estimator = estimator if estimator is not None else QuantileEstimator()

    def on_committed(self, block: Block, mempool: Mempool, chain: _Limits, now_s: float) -> None:
        """``block`` was committed at ``now_s`` and the pool updated."""
        limits = BlockLimits(max_txs=chain.max_block_txs, max_bytes=chain.max_block_bytes)
        self.estimator.observe_block(block_view(block.header.height, now_s, block.txs, limits))
        self.estimator.observe_pool(pool_view(mempool, now_s))

    def estimate(self, blocks: int, confidence: float) -> Estimate:
        return self.estimator.estimate(*check_query(blocks, confidence))
