"""Fixtures of the API tests: a LocalNode (real ledger, mempool, policy and
PoA engine; rpc_kit.py) and a server thread for the synchronous client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rpc_kit import LocalNode, ServerThread


@pytest.fixture
def node(tmp_path: Path) -> Iterator[LocalNode]:
    local = LocalNode(tmp_path)
    yield local
    local.close()


@pytest.fixture
def admin_node(tmp_path: Path) -> Iterator[LocalNode]:
    local = LocalNode(tmp_path, admin_enabled=True)
    yield local
    local.close()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread() as thread:
        yield thread
