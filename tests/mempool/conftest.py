"""Fixtures of the mempool tests."""

from __future__ import annotations

import pytest
from mempool_support import Accounts


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()
