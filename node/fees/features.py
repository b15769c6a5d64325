"""The fee model's inputs, computed from a ``Market`` for a target of N blocks.

Serving and training call the same ``market_features``. Every fee rate is
divided by the market's reference rate (the median rate of the recent
blocks' txs), so the model reads the shape of the market, not its price
level: a chain whose fees are all ten times higher gets estimates ten times
higher. Pool depth is in blocks: the pool's executable txs ordered by fee
rate, the rate at which N blocks' worth (by count or bytes) is reached is
what a newcomer must beat if no one else arrives.
"""

from __future__ import annotations

import numpy as np

from node.fees.estimator import Market

FEATURE_NAMES = (
    "blocks",
    "pool_blocks",
    "depth_rate_1",
    "depth_rate_n",
    "depth_rate_2n",
    "arrival_load",
    "fullness_1",
    "fullness_5",
    "fullness_20",
    "full_share_20",
    "clearing_1",
    "clearing_max_5",
    "clearing_mean_5",
    "clearing_mean_20",
    "pool_median_rate",
)
#: Recent blocks the short-term features look at.
SHORT = 5


def block_interval_s(market: Market) -> float:
    """The median time between the recent blocks (1 s until two are seen)."""
    times = np.array([b.time_s for b in market.blocks])
    gaps = np.diff(times)
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if len(gaps) else 1.0


def depth_rates(market: Market, depths: list[float]) -> list[float]:
    """For each depth (in blocks), the fee rate of the pool's executable tx at
    which that many blocks are filled, best rate first (0: the pool is shallower)."""
    pool, last = market.pool, market.blocks[-1]
    order = np.argsort(-pool.fee_rates, kind="stable")
    rates = pool.fee_rates[order]
    count = np.arange(1, len(rates) + 1) / max(last.max_txs, 1)
    size = np.cumsum(pool.sizes[order]) / max(last.max_bytes, 1)
    depth = np.maximum(count, size)
    out = []
    for d in depths:
        i = int(np.searchsorted(depth, d, side="right"))
        out.append(float(rates[i]) if i < len(rates) else 0.0)
    return out


def market_features(market: Market, blocks: int, reference: float) -> np.ndarray:
    """The feature row for a target of ``blocks`` (market has seen a block; reference > 0)."""
    last = market.blocks[-1]
    pool = market.pool
    clearing = market.clearing_rates() / reference
    short = clearing[-SHORT:]
    depth = max(
        len(pool.fee_rates) / max(last.max_txs, 1), float(pool.sizes.sum()) / max(last.max_bytes, 1)
    )
    d1, dn, d2n = depth_rates(market, [1.0, float(blocks), 2.0 * blocks])
    arrivals = market.arrival_tps * block_interval_s(market) / max(last.max_txs, 1)
    median = float(np.median(pool.fee_rates)) if len(pool.fee_rates) else 0.0
    return np.array(
        [
            float(blocks),
            depth,
            d1 / reference,
            dn / reference,
            d2n / reference,
            arrivals,
            market.fullness(1),
            market.fullness(SHORT),
            market.fullness(),
            float((clearing > 0).mean()),
            float(clearing[-1]),
            float(short.max()),
            float(short.mean()),
            float(clearing.mean()),
            median / reference,
        ],
        dtype=np.float64,
    )
