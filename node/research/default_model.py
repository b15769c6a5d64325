"""Rebuild the shipped default model: ``python -m node.research.default_model``.

It runs exactly these two commands, then records the model's SHA-256
next to it (``models/default.json.sha256``, in ``sha256sum`` format)::

    ordinet sched gen --workload configs/workloads/blend.toml --seed 7 --out TMP/blend-7.csv
    ordinet sched train --workload TMP/blend-7.csv --seed 7 \\
        --out node/scheduling/models/default.json

Training is deterministic, so on the same library versions the rebuilt
file is byte-identical to the shipped one.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from node.scheduling.learned import DEFAULT_MODEL_HASH_PATH, DEFAULT_MODEL_PATH

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = REPO / "configs" / "workloads" / "blend.toml"
SEED = 7


def rebuild(out: Path = DEFAULT_MODEL_PATH, hash_out: Path = DEFAULT_MODEL_HASH_PATH) -> bytes:
    """Generate the blend trace, train on it, write the model and its hash file."""
    from node.research.cli import register

    parser = argparse.ArgumentParser(prog="ordinet")
    register(parser.add_subparsers(dest="command", required=True))
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / f"blend-{SEED}.csv"
        for argv in (
            ["sched", "gen", "--workload", str(WORKLOAD), "--seed", str(SEED), "--out", str(trace)],
            ["sched", "train", "--workload", str(trace), "--seed", str(SEED), "--out", str(out)],
        ):
            args = parser.parse_args(argv)
            if args.func(args) != 0:
                raise SystemExit(f"failed: ordinet {' '.join(argv)}")
    digest = hashlib.sha256(out.read_bytes()).digest()
    hash_out.write_text(f"{digest.hex()}  {out.name}\n", encoding="ascii")
    return digest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    digest = rebuild()
    print(f"default model: {DEFAULT_MODEL_PATH} sha256 {digest.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
