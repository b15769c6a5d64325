"""Torn writes: a crash that cuts a node's store in the middle of a write.

A simulated node keeps its chain in a real SQLite file (on /dev/shm). A
crash at a random instant lands, more often than not, between two writes;
the interesting instants are inside one. ``arm_torn_write(store, steps)``
makes the store's next write transactions die after ``steps`` progress
ticks (each ``TICK`` SQLite virtual-machine instructions, counted only
inside a write transaction): the statement in progress fails, the
transaction is rolled back, and the simulator ends the node right there,
as a kill -9 would. What survives is what SQLite had committed before:
the property node/store.py promises (a block, its undo rows and its
certificate land together or not at all) is then what the restart tests.

If the write completes before its ticks run out, the count carries over
to the next write: the cut falls at a random point of the write stream.
"""

from __future__ import annotations

from node.store import Store

#: SQLite VM instructions per progress tick
TICK = 64


class TornArm:
    """A crash waiting for a write to cut; ``torn`` once it did."""

    __slots__ = ("left", "torn")

    def __init__(self, steps: int) -> None:
        self.left = max(1, steps)
        self.torn = False

    def tick(self, in_write: bool) -> bool:
        """One progress tick; True (once) when the write must fail now."""
        if self.torn or not in_write:
            return False
        self.left -= 1
        if self.left > 0:
            return False
        self.torn = True
        return True


def arm_torn_write(store: Store, steps: int) -> TornArm:
    """Make ``store`` fail a write after ``steps`` ticks from now."""
    arm = TornArm(steps)
    store.on_progress(lambda in_write: arm.tick(in_write), TICK)
    return arm
