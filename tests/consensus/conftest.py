"""Fixtures of the consensus tests (the cluster itself is in consensus_cluster.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from consensus_cluster import Cluster

# the node tests' kit (real node processes) serves test_clock_skew.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))


@pytest.fixture
def cluster_factory(tmp_path: Path):
    made: list[Cluster] = []

    def make(consensus: str, n: int = 4, *, on_disk: bool = False, **kw: Any) -> Cluster:
        c = Cluster(consensus, n, directory=tmp_path if on_disk else None, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
