"""The node's one clock: the ONLY place in the node runtime that reads time.

Consensus engines take ``now_ms`` as an argument and ask for timers in the
same unit; block timestamps come from it too, so it must be wall-clock
milliseconds. Reading the wall clock for every event would let an NTP step
move timers backwards, so the clock reads the wall clock once, at start,
and advances it with the monotonic clock: ``now_ms`` never goes back and a
timer set for ``at_ms`` fires after the right interval whatever the wall
clock does meanwhile. asyncio's loop time is the same monotonic clock, so
``loop_time(at_ms)`` is what ``loop.call_at`` wants.
"""

from __future__ import annotations

import time


class Clock:
    """Wall-clock milliseconds, advanced monotonically from one reading."""

    __slots__ = ("_mono0", "_wall0_ms")

    def __init__(self) -> None:
        self._wall0_ms = time.time_ns() // 1_000_000
        self._mono0 = time.monotonic()

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch (engine time, block timestamps)."""
        return self._wall0_ms + int((time.monotonic() - self._mono0) * 1000)

    def now_s(self) -> float:
        """The same instant in seconds (mempool arrival times, expiry)."""
        return self._wall0_ms / 1000 + (time.monotonic() - self._mono0)

    def monotonic_s(self) -> float:
        """Seconds on the monotonic clock (durations, latencies)."""
        return time.monotonic()

    def loop_time(self, at_ms: int) -> float:
        """``at_ms`` (engine time) on the monotonic clock asyncio's loop uses."""
        return self._mono0 + (at_ms - self._wall0_ms) / 1000
