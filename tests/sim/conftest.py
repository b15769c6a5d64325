"""Simulator tests. The 10,000-seed soak is ``@pytest.mark.slow``: it runs
under ``make soak`` (``pytest -m slow``), and is skipped by a plain
``pytest`` run (``make test``), which has no marker expression."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.option.markexpr:
        return
    skip = pytest.mark.skip(reason="soak test: run with `make soak` (pytest -m slow)")
    for item in items:
        if "slow" in item.keywords and _HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)
