"""Fixtures of the node tests: clusters of real node processes, always killed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nodekit import Cluster


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Build clusters under tmp_path; every process is killed at teardown,
    and a failing test prints the tail of each node's log."""
    made: list[Cluster] = []

    def make(consensus: str, **options: Any) -> Cluster:
        cluster = Cluster(tmp_path / f"net{len(made)}", consensus=consensus, **options)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        factory = item.funcargs.get("cluster_factory") if hasattr(item, "funcargs") else None
        closure = getattr(factory, "__closure__", None) or ()
        for cell in closure:
            clusters = cell.cell_contents
            if isinstance(clusters, list):
                for cluster in clusters:
                    if isinstance(cluster, Cluster):
                        report.sections.append(("node logs", cluster.logs()))
