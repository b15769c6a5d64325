"""Features of pending transactions, from what a node can observe.

``FeatureTracker.features(txs)`` turns one batch of ``TxColumns`` into a
float64 matrix (one row per tx, one column per name in ``FEATURE_NAMES``)
and then adds the batch to its history. The learned policy keeps one
tracker and feeds it every batch the mempool scores, in admission order;
training replays a trace through the same mempool and the same tracker, so
the model sees at serving exactly the features it was trained on.

History is per sender, per recipient and global: an exponentially decayed
count and mean (half-life ``half_life_s``: the recent rate and fee level)
and a long-run count (half-life ten times longer, so that it levels off
instead of growing with the length of the run), taken just before each
tx. Rows of one batch see the rows before them in the batch, so a
feature does not depend on how arrivals were cut into batches.
Everything is vectorised: no Python loop over rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from node.scheduling.policy import TxColumns

FEATURE_NAMES = (
    "log_fee",  # log1p(fee)
    "size",  # encoded bytes
    "log_fee_rate",  # log1p(fee per byte)
    "fee_rate_vs_recent",  # log_fee_rate minus its recent mean over all txs
    "nonce_gap",  # nonce minus the sender's next nonce in the state
    "sender_log_count",  # log1p(txs seen from this sender, decayed over 10 half-lives)
    "sender_rate_tps",  # decayed rate of this sender's txs
    "sender_fee_vs_recent",  # sender's recent mean log_fee_rate minus everyone's
    "recipient_log_count",  # log1p(txs seen to this recipient, decayed over 10 half-lives)
    "recipient_rate_tps",
    "recipient_fee_vs_recent",
    "arrival_rate_tps",  # decayed rate of all txs: congestion seen at the door
    "pool_size",  # txs in the pool when the batch arrived
    "pool_mbytes",  # its bytes, in MB
)
DEFAULT_HALF_LIFE_S = 30.0
#: The long-run counts' half-life, in half-lives of the recent statistics.
LONG_RUN_FACTOR = 10.0

# Within one batch, weights exp(decay * (t - t0)) stay far from overflow
# when no batch spans more than this many half-lives (longer ones are cut).
_MAX_SPAN_HALF_LIVES = 200.0


class DecayedStats:
    """Per-key count, decayed count and decayed sum of a value.

    ``before(keys, times, values)`` returns, for each event, the statistics
    of its key over all earlier events (earlier calls and earlier rows of
    this call) at the event's time, then records the events.
    """

    def __init__(self, decay_per_s: float) -> None:
        self.decay_per_s = decay_per_s
        self._ids: dict[bytes, int] = {}
        self._count = np.zeros(0)
        self._weight = np.zeros(0)  # decayed count at time _time
        self._total = np.zeros(0)  # decayed sum of values at time _time
        self._time = np.zeros(0)

    def __len__(self) -> int:
        return len(self._ids)

    def key_ids(self, keys: Sequence[bytes]) -> np.ndarray:
        ids = self._ids
        out = np.fromiter((ids.setdefault(k, len(ids)) for k in keys), np.int64, len(keys))
        if len(ids) > len(self._count):
            grow = max(len(ids), 2 * len(self._count), 64) - len(self._count)
            self._count = np.concatenate([self._count, np.zeros(grow)])
            self._weight = np.concatenate([self._weight, np.zeros(grow)])
            self._total = np.concatenate([self._total, np.zeros(grow)])
            self._time = np.concatenate([self._time, np.zeros(grow)])
        return out

    def before(
        self, ids: np.ndarray, times: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(count, decayed count, decayed sum) of each event's key before it.

        ``times`` must be non-decreasing and not earlier than any time
        recorded before (the tracker makes them so).
        """
        n = len(ids)
        count = np.empty(n)
        weight = np.empty(n)
        total = np.empty(n)
        span = _MAX_SPAN_HALF_LIVES * math.log(2) / max(self.decay_per_s, 1e-12)
        start = 0
        while start < n:
            stop = int(np.searchsorted(times, times[start] + span, side="left"))
            stop = max(stop, start + 1)
            sl = slice(start, stop)
            count[sl], weight[sl], total[sl] = self._chunk(ids[sl], times[sl], values[sl])
            start = stop
        return count, weight, total

    def _chunk(
        self, ids: np.ndarray, times: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lam = self.decay_per_s
        t0 = times[0]
        keys = np.unique(ids)
        # Bring every involved key's state to the chunk's reference time t0.
        fade = np.exp(-lam * np.maximum(t0 - self._time[keys], 0.0))
        self._weight[keys] *= fade
        self._total[keys] *= fade
        self._time[keys] = t0
        # Each event's weight seen from t0; the earlier events of its key, from
        # the same frame, are an exclusive prefix sum within the key's group.
        grow = np.exp(lam * (times - t0))
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = sorted_ids[1:] != sorted_ids[:-1]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(ids)), 0))

        def exclusive_in_group(x: np.ndarray) -> np.ndarray:
            c = np.cumsum(x) - x
            return c - c[group_start]

        w_sorted = grow[order]
        v_sorted = values[order] * w_sorted
        rank = np.arange(len(ids)) - group_start
        prior_w = np.empty(len(ids))
        prior_v = np.empty(len(ids))
        prior_n = np.empty(len(ids))
        prior_w[order] = exclusive_in_group(w_sorted)
        prior_v[order] = exclusive_in_group(v_sorted)
        prior_n[order] = rank
        count = self._count[ids] + prior_n
        weight = (self._weight[ids] + prior_w) / grow
        total = (self._total[ids] + prior_v) / grow
        np.add.at(self._count, ids, 1.0)
        np.add.at(self._weight, ids, grow)
        np.add.at(self._total, ids, values * grow)
        return count, weight, total


def forward_times(arrival_s: np.ndarray, clock_s: float) -> tuple[np.ndarray, float]:
    """The times at which a batch enters a history whose latest time is
    ``clock_s``, and the new latest time. History moves forward only: a late
    or out-of-order arrival is counted at the latest time seen so far."""
    times = np.maximum.accumulate(np.maximum(arrival_s, clock_s))
    return times, float(times[-1])


class SenderRates:
    """Each tx's sender's decayed send rate (tx/s) just before the tx: the
    ``sender_rate_tps`` feature alone, for policies that need only it."""

    def __init__(self, half_life_s: float = DEFAULT_HALF_LIFE_S) -> None:
        if not half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
        self._stats = DecayedStats(math.log(2) / half_life_s)
        self._clock = -math.inf

    def before(self, txs: TxColumns) -> np.ndarray:
        """The rates of a batch's senders; records the batch."""
        n = len(txs)
        if n == 0:
            return np.zeros(0)
        times, self._clock = forward_times(np.asarray(txs.arrival_s, np.float64), self._clock)
        stats = self._stats
        _, weight, _ = stats.before(stats.key_ids(txs.sender), times, np.zeros(n))
        return weight * stats.decay_per_s


class FeatureTracker:
    """Computes ``FEATURE_NAMES`` for each batch and remembers the batch."""

    def __init__(self, half_life_s: float = DEFAULT_HALF_LIFE_S) -> None:
        if not half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
        self.half_life_s = half_life_s
        decay = math.log(2) / half_life_s
        self._senders = DecayedStats(decay)
        self._recipients = DecayedStats(decay)
        self._senders_long = DecayedStats(decay / LONG_RUN_FACTOR)
        self._recipients_long = DecayedStats(decay / LONG_RUN_FACTOR)
        self._everyone = DecayedStats(decay)
        self._clock = -math.inf

    def features(self, txs: TxColumns) -> np.ndarray:
        """The feature matrix of a batch (n x len(FEATURE_NAMES)); records the batch."""
        n = len(txs)
        out = np.zeros((n, len(FEATURE_NAMES)))
        if n == 0:
            return out
        arrival = np.asarray(txs.arrival_s, dtype=np.float64)
        fee = np.asarray(txs.fee, dtype=np.float64)
        size = np.asarray(txs.size, dtype=np.float64)
        times, self._clock = forward_times(arrival, self._clock)
        log_fee_rate = np.log1p(fee / np.maximum(size, 1.0))
        lam = self._everyone.decay_per_s

        _, all_w, all_v = self._everyone.before(
            self._everyone.key_ids([b""] * n), times, log_fee_rate
        )
        recent_fee = np.where(all_w > 1e-9, all_v / np.maximum(all_w, 1e-9), log_fee_rate)

        def keyed(
            stats: DecayedStats, long_run: DecayedStats, keys: Sequence[bytes]
        ) -> tuple[np.ndarray, ...]:
            ids = stats.key_ids(keys)
            _, w, v = stats.before(ids, times, log_fee_rate)
            mean_vs_recent = np.where(w > 1e-9, v / np.maximum(w, 1e-9) - recent_fee, 0.0)
            _, long_w, _ = long_run.before(long_run.key_ids(keys), times, log_fee_rate)
            return np.log1p(long_w), w * lam, mean_vs_recent

        s_count, s_rate, s_fee = keyed(self._senders, self._senders_long, txs.sender)
        r_count, r_rate, r_fee = keyed(self._recipients, self._recipients_long, txs.recipient)
        columns: dict[str, np.ndarray | float] = {
            "log_fee": np.log1p(fee),
            "size": size,
            "log_fee_rate": log_fee_rate,
            "fee_rate_vs_recent": log_fee_rate - recent_fee,
            "nonce_gap": np.asarray(txs.nonce_gap, dtype=np.float64),
            "sender_log_count": s_count,
            "sender_rate_tps": s_rate,
            "sender_fee_vs_recent": s_fee,
            "recipient_log_count": r_count,
            "recipient_rate_tps": r_rate,
            "recipient_fee_vs_recent": r_fee,
            "arrival_rate_tps": all_w * lam,
            "pool_size": float(txs.pool_size),
            "pool_mbytes": float(txs.pool_bytes) / 1e6,
        }
        for j, name in enumerate(FEATURE_NAMES):
            out[:, j] = columns[name]
        return out
