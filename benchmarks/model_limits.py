"""What a hostile model file costs the node: load and one predict.

    python benchmarks/model_limits.py [--depth 100000]

Builds a model whose one tree is a chain ``--depth`` deep (the red-team
finding: 100k deep made one predict take ~2 s), and the deepest chain the
loader accepts, and prints for each: seconds to load (or to refuse), and
seconds for one predict of one row and of 10,000 rows when it loads. Also
times loading the shipped default model, to show strict checks cost little.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.scheduling import model as model_module
from node.scheduling.features import FEATURE_NAMES
from node.scheduling.learned import DEFAULT_MODEL_PATH


def chain_doc(depth: int) -> dict[str, Any]:
    n = 2 * depth + 1
    left, right = [-1] * n, [-1] * n
    for level in range(depth):
        left[2 * level] = 2 * level + 1
        right[2 * level] = 2 * level + 2
    return {
        "format": model_module.MODEL_FORMAT,
        "version": model_module.MODEL_VERSION,
        "features": list(FEATURE_NAMES),
        "half_life_s": 30.0,
        "target": "t",
        "base": 0.0,
        "trees": [
            {
                "left": left,
                "right": right,
                "feature": [0] * n,
                "threshold": [0.5] * n,
                "value": [1.0] * n,
            }
        ],
    }


def best_of(fn: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def case(depth: int) -> None:
    raw = json.dumps(chain_doc(depth)).encode()
    started = time.perf_counter()
    try:
        model = model_module.parse_model(raw, f"chain-{depth}.json")
    except ConfigError as exc:
        print(f"depth {depth:>7}: refused in {time.perf_counter() - started:.3f} s: {exc}")
        return
    load_s = time.perf_counter() - started
    one = best_of(lambda: model.predict(np.zeros((1, len(FEATURE_NAMES)))))
    many = best_of(lambda: model.predict(np.zeros((10_000, len(FEATURE_NAMES)))))
    print(
        f"depth {depth:>7}: loaded in {load_s:.3f} s; predict 1 row {one:.4f} s, "
        f"10,000 rows {many:.4f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100_000)
    args = parser.parse_args()
    raw = DEFAULT_MODEL_PATH.read_bytes()
    load_s = best_of(lambda: model_module.parse_model(raw, "default.json"))
    print(f"default model ({len(raw):,} bytes): parsed in {load_s:.4f} s")
    case(args.depth)
    case(getattr(model_module, "MAX_TREE_DEPTH", 64))


if __name__ == "__main__":
    main()
