"""Suite-wide settings.

Hypothesis: these machines are shared and noisy, so no test may fail for
being slow. Per-example deadlines and the too-slow health check are
timing assertions in disguise; both are off for every test.

Soak tests are ``@pytest.mark.slow``: they run under ``make soak``
(``pytest -m slow``) and are skipped by a plain ``pytest`` run
(``make test``), which has no marker expression.
"""

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ordinet",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("ordinet")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.option.markexpr:
        return
    skip = pytest.mark.skip(reason="soak test: run with `make soak` (pytest -m slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
