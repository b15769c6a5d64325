"""Fixtures of the testnet tests: a testnet home that is always taken down."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.scheduling import plugins
from node.scheduling import policy as policy_registry
from node.testnet import procs
from node.testnet.manifest import has_manifest, load_manifest

# the node tests' kit (wait_until) serves these tests too
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))


@pytest.fixture
def net_home(tmp_path: Path) -> Iterator[Path]:
    """A home for a testnet; at teardown (also when the test fails) every node
    process the manifest knows is killed, so no test leaves one behind."""
    home = tmp_path / "net"
    yield home
    if has_manifest(home):
        for node in load_manifest(home).nodes:
            procs.kill(node.pid, node.home)


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Policy plugins a test loads stay in it: the policy registry and the record
    of loaded plugin files are restored afterwards (two copies of one plugin in
    one process would clash)."""
    policy_registry.policy_names()
    monkeypatch.setattr(policy_registry, "_REGISTRY", dict(policy_registry._REGISTRY))
    monkeypatch.setattr(plugins, "_LOADED", {})
