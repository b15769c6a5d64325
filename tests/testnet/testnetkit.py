"""Kit of the testnet tests: run ``ordinet`` as a real command, read chains.

Waiting on conditions is ``nodekit.wait_until`` (tests/node), shared.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from node.client import Client


def ordinet(*args: str | Path, timeout_s: float = 300.0, check: bool = True) -> str:
    """Run ``python -m node ARGS``; its stdout (stderr too on failure)."""
    done = subprocess.run(
        [sys.executable, "-m", "node", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"ordinet {' '.join(map(str, args))} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done.stdout


def heights(clients: list[Client]) -> list[int]:
    return [int(c.status()["height"]) for c in clients]


def block_ids(client: Client, upto: int) -> list[tuple[str, list[str]]]:
    """(hash, tx ids) of blocks 1..upto."""
    out = []
    for h in range(1, upto + 1):
        block: dict[str, Any] = client.block(h)
        out.append((block["hash"], block["txs"]))
    return out
