"""The seed sweeps: every engine, random faults of every kind, zero violations.

Each seed draws its own scenario (drops, duplicates, reordering,
partitions, crashes with restarts from disk and, for BFT, up to f
equivocating validators) and network size (4, 5 or 7 nodes). A failing
seed is reported with the command that replays it.
"""

from __future__ import annotations

import pytest
from sim_sweep import describe, sweep

ENGINES = ("bft", "poa", "pow")


@pytest.mark.parametrize("consensus", ENGINES)
def test_200_seeds_with_random_faults_violate_nothing(consensus: str) -> None:
    failed = sweep(consensus, range(0, 200))
    assert not failed, describe(consensus, failed)


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
@pytest.mark.parametrize("consensus", ENGINES)
def test_soak_10000_seeds(consensus: str) -> None:
    failed = sweep(consensus, range(0, 10_000))
    assert not failed, describe(consensus, failed)
