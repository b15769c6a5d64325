"""Baseline policies beyond fifo and fee: what a learned policy must beat.

- ``fair-fee``: the fee rate, discounted by how much its sender has been
  sending lately: ``fee_rate / (1 + sender_rate / FAIR_RATE_TPS)``, with
  the sender's rate decayed over ``DEFAULT_HALF_LIFE_S`` (the learned
  policy's ``sender_rate_tps`` feature). A sender that floods the pool
  pays for the crowd it makes; one that sends now and then competes on
  fee rate alone. Like the learned policy it keeps a history of every tx
  it has scored, in admission order, and reads no clock.
- ``package``: successor-aware fee rate, as Bitcoin Core's mining score
  over ancestor packages. A sender's txs form a nonce chain, so a package
  is a prefix of its pending chain: the sender is ranked by the best
  average fee rate of its next tx plus any run of its successors (a cheap
  tx that unlocks a rich one is worth the pair), the block takes that whole
  prefix, and the sender is ranked again from its new next tx. A tx of the
  prefix that does not fit in the bytes left ends its sender's part, as in
  the default walk.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from node.scheduling.features import DEFAULT_HALF_LIFE_S, SenderRates
from node.scheduling.policy import BlockLimits, Policy, TxColumns, register

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


@register
class PackagePolicy(Policy):
    """Best average fee rate of a sender's next tx and a run of its successors."""

    name = "package"

    def score(self, txs: TxColumns) -> np.ndarray:
        return np.asarray(txs.fee_rate, dtype=np.float64)

    def order(
        self, pending: TxColumns, scores: np.ndarray, limits: BlockLimits, now_s: float
    ) -> list[int] | None:
        return package_order(pending, np.asarray(pending.fee, dtype=np.float64), limits)


class _Walked(Policy):
    """A registered policy's scores with another block walk (``NAME+WALK``)."""

    inner_factory: ClassVar[Callable[..., Policy]]
    walk: ClassVar[str]

    def __init__(self, *, wrap: Policy | None = None, **options: object) -> None:
        """``inner_factory(**options)``'s scores, or those of ``wrap``, an
        instance built elsewhere (a learned policy with an in-memory model)."""
        self.inner = wrap if wrap is not None else type(self).inner_factory(**options)
        self.model_hash = self.inner.model_hash

    def score(self, txs: TxColumns) -> np.ndarray:
        return self.inner.score(txs)

    def order(
        self, pending: TxColumns, scores: np.ndarray, limits: BlockLimits, now_s: float
    ) -> list[int] | None:
        return package_by_score(pending, scores, limits)


def with_walk(inner: Policy, walk: str) -> Policy:
    """``inner`` (already built) with the block walk ``walk``."""
    return walked_class(type(inner), walk)(wrap=inner)


def walked_class(inner: Callable[..., Policy], walk: str) -> type[_Walked]:
    """The policy class of ``NAME+WALK``: ``inner``'s scores, ``walk``'s blocks."""
    name = getattr(inner, "name", "")
    body: dict[str, object] = {
        "name": f"{name}+{walk}",
        "inner_factory": staticmethod(inner),
        "walk": walk,
        "uses_model": getattr(inner, "uses_model", False),
        "bench_only": getattr(inner, "bench_only", False),
    }
    if walk == "greedy":  # no order(): the pool walks its cached scores
        body["order"] = Policy.order
    # a class per name, so that ``name`` stays a class attribute
    return type(f"Walked[{name}+{walk}]", (_Walked,), body)


def package_by_score(pending: TxColumns, scores: np.ndarray, limits: BlockLimits) -> list[int]:
    """The package walk of a score-per-byte policy: worth = score x size."""
    worth = scores * np.maximum(np.asarray(pending.size, dtype=np.float64), 1.0)
    return package_order(pending, worth, limits)


def package_order(pending: TxColumns, worth: np.ndarray, limits: BlockLimits) -> list[int]:
    """The package walk over ``pending`` (grouped by sender, each in nonce
    order): a sender ranks by the best average ``worth`` per byte of its next
    tx plus a run of its successors, and the block takes that whole run."""
    n = len(pending)
    if n == 0 or limits.max_txs <= 0:
        return []
    fee = np.asarray(worth, dtype=np.float64)  # the worth of each row, summed per package
    size = np.maximum(np.asarray(pending.size, dtype=np.float64), 1.0)
    senders = pending.sender
    # rows come grouped by sender, each group in nonce order
    starts = [0] + [i for i in range(1, n) if senders[i] != senders[i - 1]]
    ends = [*starts[1:], n]
    heads = np.asarray(starts)
    lengths = np.diff([*starts, n])
    # every sender's first package, at once: the average rate of each
    # prefix of its chain, the best of them (the shortest on ties)
    fee_sum = np.cumsum(fee)
    size_sum = np.cumsum(size)
    fee_before = np.repeat(fee_sum[heads] - fee[heads], lengths)
    size_before = np.repeat(size_sum[heads] - size[heads], lengths)
    rates = (fee_sum - fee_before) / (size_sum - size_before)
    best = np.maximum.reduceat(rates, heads)
    rows = np.arange(n)
    is_best = rates >= np.repeat(best, lengths)
    stops = np.minimum.reduceat(np.where(is_best, rows, n), heads) + 1
    fees, sizes = fee.tolist(), size.tolist()

    def best_prefix(head: int, end: int) -> tuple[float, int]:
        """(best average worth per byte of rows head..j, that j + 1), the shortest on ties."""
        best_rate, stop, f, z = -math.inf, head + 1, 0.0, 0.0
        for row in range(head, end):  # a chain is short (max_nonce_gap)
            f += fees[row]
            z += sizes[row]
            if f / z > best_rate:
                best_rate, stop = f / z, row + 1
        return best_rate, stop

    # (-rate, head row, stop row, end of the sender's rows); the head row
    # is unique, so ties go to the sender whose rows come first
    heap = list(zip((-best).tolist(), starts, stops.tolist(), ends, strict=True))
    heapq.heapify(heap)
    picks: list[int] = []
    room = limits.max_bytes
    while heap and len(picks) < limits.max_txs:
        _, head, stop, end = heapq.heappop(heap)
        row = head
        while row < stop and len(picks) < limits.max_txs and sizes[row] <= room:
            picks.append(row)
            room -= int(pending.size[row])
            row += 1
        if row == stop and stop < end:
            rate, next_stop = best_prefix(stop, end)
            heapq.heappush(heap, (-rate, stop, next_stop, end))
    return picks
