"""node/consensus/ is pure: no I/O scheduling, no clock, no global randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import node.consensus

FORBIDDEN_MODULES = {"asyncio", "socket", "time", "datetime", "random", "threading", "selectors"}
CLOCK_CALLS = {"time", "monotonic", "perf_counter", "time_ns", "now", "utcnow", "today"}
PACKAGE = Path(node.consensus.__file__).parent


def _sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 8, "the consensus package moved?"
    return files


def test_no_forbidden_imports() -> None:
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        for item in ast.walk(tree):
            names: list[str] = []
            if isinstance(item, ast.Import):
                names = [a.name for a in item.names]
            elif isinstance(item, ast.ImportFrom) and item.module:
                names = [item.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    offenders.append(f"{path.name}:{item.lineno} imports {name}")
    assert offenders == []


def test_no_clock_reads() -> None:
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        for item in ast.walk(tree):
            if (
                isinstance(item, ast.Call)
                and isinstance(item.func, ast.Attribute)
                and item.func.attr in CLOCK_CALLS
                and isinstance(item.func.value, ast.Name)
                and item.func.value.id in {"time", "datetime", "date", "loop"}
            ):
                offenders.append(f"{path.name}:{item.lineno}")
    assert offenders == []


def test_the_check_would_catch_an_offender(tmp_path: Path) -> None:
    bad = "import time\nimport asyncio\nx = time.time()\n"
    tree = ast.parse(bad)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported & FORBIDDEN_MODULES == {"time", "asyncio"}
