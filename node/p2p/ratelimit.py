"""Token buckets: how much a peer may send, and how long it may keep flooding.

Pure: the current time is passed in as ``now_s`` (any monotonic clock).
"""

from __future__ import annotations


class TokenBucket:
    """Holds at most ``burst`` tokens, refilled at ``rate_per_s``."""

    __slots__ = ("_last_s", "_tokens", "burst", "rate_per_s")

    def __init__(self, *, rate_per_s: float, burst: float, now_s: float) -> None:
        if rate_per_s <= 0 or burst <= 0:
            raise ValueError("rate_per_s and burst must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._last_s = now_s

    def _refill(self, now_s: float) -> None:
        elapsed = now_s - self._last_s
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
            self._last_s = now_s

    def take(self, amount: float, now_s: float) -> bool:
        """Take ``amount`` tokens if there are that many; False leaves the bucket as is."""
        self._refill(now_s)
        if amount <= self._tokens:
            self._tokens -= amount
            return True
        return False

    def tokens(self, now_s: float) -> float:
        self._refill(now_s)
        return self._tokens


class PeerThrottle:
    """The inbound limits of one peer: messages/s, bytes/s, and flood strikes.

    ``admit`` says whether a message may pass. Each refused message is a
    strike; strikes refill slowly, so a peer that overshoots now and then is
    only throttled, while one that keeps flooding runs out of strikes and
    ``flooding`` turns true (the transport then disconnects it).
    """

    __slots__ = ("_bytes", "_msgs", "_strikes", "flooding")

    def __init__(
        self,
        *,
        msgs_per_s: float,
        burst_msgs: float,
        bytes_per_s: float,
        burst_bytes: float,
        flood_strikes: int,
        flood_window_s: float,
        now_s: float,
    ) -> None:
        self._msgs = TokenBucket(rate_per_s=msgs_per_s, burst=burst_msgs, now_s=now_s)
        self._bytes = TokenBucket(rate_per_s=bytes_per_s, burst=burst_bytes, now_s=now_s)
        self._strikes = TokenBucket(
            rate_per_s=flood_strikes / flood_window_s, burst=flood_strikes, now_s=now_s
        )
        self.flooding = False

    def admit(self, size: int, now_s: float) -> bool:
        """True when a message of ``size`` bytes is within the peer's budget."""
        if self._msgs.tokens(now_s) >= 1 and self._bytes.take(size, now_s):
            self._msgs.take(1, now_s)
            return True
        if not self._strikes.take(1, now_s):
            self.flooding = True
        return False
