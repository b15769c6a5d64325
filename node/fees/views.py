"""Reading a mempool and a block into the estimators' views.

The node and the bench build their ``PoolView`` and ``BlockView`` here,
the same way: the pool's executable txs (a tx behind a nonce gap never
competes for a block) and a block's txs with the limits it was built under.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from node.fees.estimator import BlockView, PoolView
from node.mempool import Mempool
from node.scheduling.policy import BlockLimits
from node.types import Transaction


def pool_view(pool: Mempool, now_s: float) -> PoolView:
    """The pool at ``now_s``: its pending txs' fee rates and sizes, and its counters."""
    ids, fees, sizes = pool.pending_fees()
    return PoolView(
        time_s=now_s,
        fee_rates=fees / np.maximum(sizes, 1),
        sizes=sizes,
        size=len(pool),
        bytes=pool.size_bytes,
        admitted_total=int(pool.stats()["admitted"]),
        tx_ids=tuple(ids),
    )


def block_view(
    height: int, now_s: float, txs: Sequence[Transaction], limits: BlockLimits
) -> BlockView:
    """A block of ``txs`` committed at ``now_s``, built under ``limits``."""
    sizes = np.array([tx.size for tx in txs], dtype=np.int64)
    fees = np.array([tx.fee for tx in txs], dtype=np.float64)
    return BlockView(
        height=height,
        time_s=now_s,
        fee_rates=fees / np.maximum(sizes, 1),
        sizes=sizes,
        max_txs=limits.max_txs,
        max_bytes=limits.max_bytes,
        tx_ids=tuple(tx.id for tx in txs),
    )
