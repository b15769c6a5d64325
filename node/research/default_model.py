"""Rebuild the shipped default model: ``python -m node.research.default_model``.

The recipe trains on every shipped workload (``configs/workloads/*.toml``,
not the ablation copies), each generated with the training seed for at most
``MAX_DURATION_S`` seconds and replayed under each behaviour policy from an
empty history and again from its middle (``train.TrainConfig``). It runs
exactly this command, then records the model's SHA-256 next to it
(``models/default.json.sha256``, in ``sha256sum`` format)::

    ordinet sched train --seed 7 --max-duration 600 \\
        --workload configs/workloads/blend.toml --workload configs/workloads/bursts.toml ... \\
        --out node/scheduling/models/default.json

The gates (``tests/scheduling/test_gates.py``) bench the result on seeds
1-5, which the recipe never uses. Training is deterministic, so on the same
library versions the rebuilt file is byte-identical to the shipped one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from node.scheduling.learned import DEFAULT_MODEL_HASH_PATH, DEFAULT_MODEL_PATH
from node.scheduling.model import write_hash_file

REPO = Path(__file__).resolve().parents[2]
WORKLOADS_DIR = REPO / "configs" / "workloads"
SEED = 7
MAX_DURATION_S = 600.0


def recipe_workloads() -> list[Path]:
    """The shipped workloads the recipe trains on, in name order."""
    return sorted(WORKLOADS_DIR.glob("*.toml"))


def recipe_argv(seed: int, out: Path) -> list[str]:
    """The ``ordinet`` arguments of the default recipe with training seed ``seed``."""
    argv = ["sched", "train", "--seed", str(seed), "--max-duration", f"{MAX_DURATION_S:g}"]
    for path in recipe_workloads():
        argv += ["--workload", str(path)]
    return [*argv, "--out", str(out)]


def train_recipe(seed: int, out: Path) -> None:
    """Run the default recipe with training seed ``seed``, writing the model to ``out``."""
    from node.research.cli import register

    parser = argparse.ArgumentParser(prog="ordinet")
    register(parser.add_subparsers(dest="command", required=True))
    argv = recipe_argv(seed, out)
    args = parser.parse_args(argv)
    if args.func(args) != 0:
        raise SystemExit(f"failed: ordinet {' '.join(argv)}")


def rebuild(out: Path = DEFAULT_MODEL_PATH, hash_out: Path = DEFAULT_MODEL_HASH_PATH) -> bytes:
    """Train the default recipe, write the model and its hash file."""
    train_recipe(SEED, out)
    return write_hash_file(out, hash_out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    digest = rebuild()
    print(f"default model: {DEFAULT_MODEL_PATH} sha256 {digest.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
