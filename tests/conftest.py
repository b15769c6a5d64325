"""Suite-wide settings.

Hypothesis: these machines are shared and noisy, so no test may fail for
being slow. Per-example deadlines and the too-slow health check are
timing assertions in disguise; both are off for every test.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ordinet",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("ordinet")
