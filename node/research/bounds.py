"""The utility bound of a labelled trace under the bench's block production.

``bound_of_trace`` hands ``node.scheduling.bound.utility_bound`` the trace's
columns and the very block schedule the replay uses (``replay.py``: the
first block one interval after the first arrival), so the bound and every
policy's utility are measured on the same blocks.
"""

from __future__ import annotations

from collections.abc import Mapping

from node.research.replay import BlockProduction
from node.research.trace import Trace
from node.scheduling.bound import BlockSchedule, Bound, utility_bound


def bound_of_trace(
    trace: Trace, production: BlockProduction, start_nonces: Mapping[str, int] | None = None
) -> Bound:
    """The LP upper bound on the utility of any policy replayed on ``trace``."""
    trace = trace.sorted_by_arrival()
    schedule = BlockSchedule(
        start_s=float(trace.arrival_s[0]) if len(trace) else 0.0,
        interval_s=production.interval_s,
        blocks=production.block_count(trace),
        limits=production.limits,
    )
    return utility_bound(
        arrival_s=trace.arrival_s,
        sender=trace.sender,
        nonce=trace.nonce,
        size=trace.size,
        value=trace.value,
        deadline_s=trace.deadline_s,
        schedule=schedule,
        start_nonces=start_nonces,
    )
