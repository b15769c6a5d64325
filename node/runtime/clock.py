"""The node's one clock: the ONLY place in the node runtime that reads time.

Consensus engines take ``now_ms`` as an argument and ask for timers in the
same unit; block timestamps come from it too, so it must be wall-clock
milliseconds. Reading the wall clock for every event would let an NTP step
move timers backwards, so the clock reads the wall clock once, at start,
and advances it with the monotonic clock: ``now_ms`` never goes back and a
timer set for ``at_ms`` fires after the right interval whatever the wall
clock does meanwhile. asyncio's loop time is the same monotonic clock, so
``loop_time(at_ms)`` is what ``loop.call_at`` wants.

For tests only, the environment variable ``ORDINET_CLOCK_OFFSET_MS``
(an integer, may be negative) shifts the wall-clock reading: a node
started with it behaves as one whose clock is that far off, which is how
tests/consensus/test_clock_skew.py shows that one validator with a bad
clock cannot move the chain's time. A node started with an offset logs a
warning saying so.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

from node.errors import ConfigError

log = logging.getLogger("node.runtime")

CLOCK_OFFSET_ENV = "ORDINET_CLOCK_OFFSET_MS"
# beyond +-100 years the clock would leave the u64 milliseconds of a header
_MAX_OFFSET_MS = 100 * 365 * 24 * 3600 * 1000


def clock_offset_ms(environ: Mapping[str, str] = os.environ) -> int:
    """The test-only offset of ``CLOCK_OFFSET_ENV`` (0 when unset); ConfigError if bad."""
    raw = environ.get(CLOCK_OFFSET_ENV, "").strip()
    if not raw:
        return 0
    try:
        offset = int(raw, 10)
    except ValueError:
        raise ConfigError(
            f"environment variable {CLOCK_OFFSET_ENV}: {raw[:40]!r} is not an integer"
        ) from None
    if abs(offset) > _MAX_OFFSET_MS:
        raise ConfigError(
            f"environment variable {CLOCK_OFFSET_ENV}: {offset} is beyond +-{_MAX_OFFSET_MS} ms"
        )
    return offset


class Clock:
    """Wall-clock milliseconds, advanced monotonically from one reading."""

    __slots__ = ("_mono0", "_wall0_ms", "offset_ms")

    def __init__(self, offset_ms: int | None = None) -> None:
        """``offset_ms`` shifts the wall clock (tests); None reads ``CLOCK_OFFSET_ENV``."""
        self.offset_ms = clock_offset_ms() if offset_ms is None else offset_ms
        if self.offset_ms:
            log.warning(
                "clock.offset ms=%d source=%s (a testing knob: this node's clock is wrong)",
                self.offset_ms,
                CLOCK_OFFSET_ENV,
            )
        self._wall0_ms = time.time_ns() // 1_000_000 + self.offset_ms
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
