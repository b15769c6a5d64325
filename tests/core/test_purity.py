"""The pure layers stay pure: no I/O scheduling, no clock, no global randomness.

What the node decides (consensus, the pool, scheduling, the state rules,
the composition and its catch-up) must be a function of its inputs, so
that the simulator can replay it from a seed and the runtime can drive it
with real time: time comes in as an argument (``now_ms``, ``now_s``) or
through ``NodeIO``. This test reads the sources of those layers and
refuses imports of asyncio, sockets, threads, time or random, and calls
that read a clock; the last test shows the check catches an offender.
"""

from __future__ import annotations

import ast
from pathlib import Path

import node

FORBIDDEN_MODULES = {"asyncio", "socket", "time", "datetime", "random", "threading", "selectors"}
CLOCK_CALLS = {"time", "monotonic", "perf_counter", "time_ns", "now", "utcnow", "today"}
CLOCK_OWNERS = {"time", "datetime", "date", "loop"}
ROOT = Path(node.__file__).parent
PURE = [
    *("consensus", "mempool", "scheduling", "core", "state.py", "types.py", "header_rules.py"),
    *(f"fees/{name}.py" for name in ("estimator", "buckets", "percentile", "quantile", "live")),
]


def pure_sources() -> list[Path]:
    files: list[Path] = []
    for part in PURE:
        path = ROOT / part
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    assert len(files) >= 25 and all(f.exists() for f in files), "a pure layer moved?"
    return files


def offenders(path: Path) -> list[str]:
    """Forbidden imports and clock reads in one source file."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for item in ast.walk(tree):
        names: list[str] = []
        if isinstance(item, ast.Import):
            names = [a.name for a in item.names]
        elif isinstance(item, ast.ImportFrom) and item.module:
            names = [item.module]
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{path.name}:{item.lineno} imports {name}")
        if (
            isinstance(item, ast.Call)
            and isinstance(item.func, ast.Attribute)
            and item.func.attr in CLOCK_CALLS
            and isinstance(item.func.value, ast.Name)
            and item.func.value.id in CLOCK_OWNERS
        ):
            found.append(f"{path.name}:{item.lineno} reads a clock")
    return found


def test_the_pure_layers_import_no_io_and_read_no_clock() -> None:
    found = [o for path in pure_sources() for o in offenders(path)]
    assert found == []


def test_the_check_would_catch_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import time\nimport asyncio\nfrom random import random\nx = time.time()\n"
        "def f(loop):\n    return loop.time()\n"
    )
    assert offenders(bad) == [
        "bad.py:1 imports time",
        "bad.py:2 imports asyncio",
        "bad.py:3 imports random",
        "bad.py:4 reads a clock",
        "bad.py:6 reads a clock",
    ]
    good = tmp_path / "good.py"
    good.write_text("def f(now_ms: int) -> int:\n    return now_ms + 1\n")
    assert offenders(good) == []
