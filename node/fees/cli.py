"""``ordinet fees``: train the fee model, bench the fee estimators.

- ``fees train --workload FILE [--workload FILE ...] --out MODEL [--seed S]
  [--seeds K]``: replay each workload (a .toml on seeds S .. S+K-1, or a
  trace file) and fit the quantile model (``node/fees/train.py``); prints
  the held-out coverage of each level and the model's SHA-256;
- ``fees bench --workload FILE --out DIR [--seed S] [--seeds K] [--blocks
  3] [--confidence 0.9] [--estimators model,model-raw,buckets,percentile]``:
  replays the workload on each seed, judges every estimator, prints the
  table and writes results.json and calibration.png (``node/fees/bench.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from node.argtypes import int_in, positive, positive_int, whole
from node.research.replay import BlockProduction

DEFAULT_ESTIMATORS = "model,model-raw,buckets,percentile"


def register(subparsers: Any) -> None:
    fees = subparsers.add_parser(
        "fees",
        help="fee estimation: train the model, bench the estimators",
        description="Train the fee model and bench it against the Core-style and geth-style "
        "baselines on replayed workloads.",
    )
    sub = fees.add_subparsers(dest="fees_command", metavar="SUBCOMMAND", required=True)

    tr = sub.add_parser("train", help="train the fee model on replayed workloads")
    tr.add_argument(
        "--workload", required=True, type=Path, action="append", help="trace or .toml (repeatable)"
    )
    tr.add_argument("--out", required=True, type=Path, help="model file to write (.json)")
    tr.add_argument("--seed", type=whole, default=0, help="first seed of a .toml (default 0)")
    tr.add_argument(
        "--seeds", type=positive_int, default=1, metavar="K", help="train on K seeds of each .toml"
    )
    tr.add_argument(
        "--max-duration", type=positive, default=None, metavar="S", help="at most S s of a .toml"
    )
    tr.add_argument("--trees", type=int_in(1, 10_000), default=None, help="boosting stages")
    tr.add_argument("--max-depth", type=int_in(1, 64), default=None, help="depth of each tree")
    tr.add_argument("--quiet", action="store_true", help="no progress lines")
    _production_args(tr)
    tr.set_defaults(func=cmd_train)

    be = sub.add_parser("bench", help="judge every fee estimator on a replayed workload")
    be.add_argument("--workload", required=True, type=Path, help="trace or .toml")
    be.add_argument("--out", required=True, type=Path, help="directory for the results")
    be.add_argument("--seed", type=whole, default=1, help="first seed of a .toml (default 1)")
    be.add_argument(
        "--seeds", type=positive_int, default=1, metavar="K", help="bench K seeds (default 1)"
    )
    be.add_argument("--duration", type=positive, default=None, metavar="S", help="at most S s")
    be.add_argument("--blocks", default="3", help="targets in blocks, comma-separated (3)")
    be.add_argument("--confidence", default="0.9", help="confidences, comma-separated (0.9)")
    be.add_argument(
        "--estimators", default=DEFAULT_ESTIMATORS, help=f"default {DEFAULT_ESTIMATORS}"
    )
    be.add_argument("--model", type=Path, default=None, help="fee model (default: the shipped one)")
    be.add_argument("--model-hash", default=None, help="refuse --model unless it has this SHA-256")
    be.add_argument("--quiet", action="store_true", help="no progress bar")
    _production_args(be)
    be.set_defaults(func=cmd_bench)


def _production_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--block-size", type=positive_int, default=100, help="max txs per block")
    p.add_argument(
        "--block-bytes", type=whole, default=0, help="max bytes per block (default: 350 per tx)"
    )
    p.add_argument("--interval", type=positive, default=1.0, help="seconds between blocks (1.0)")


def _production(args: argparse.Namespace) -> BlockProduction:
    return BlockProduction(
        interval_s=args.interval, block_txs=args.block_size, block_bytes=args.block_bytes
    )


def cmd_train(args: argparse.Namespace) -> int:
    from node.fees.train import FeeTrainConfig, train_fee_model
    from node.research.bench import Workload

    workloads = [Workload.open(p) for p in args.workload]
    traces = []
    for w in workloads:
        seeds = range(args.seed, args.seed + args.seeds) if w.generated else [args.seed]
        traces += [w.trace(s, args.max_duration) for s in seeds]
    shape = {"trees": args.trees, "max_depth": args.max_depth}
    config = FeeTrainConfig(
        seed=args.seed,
        production=_production(args),
        **{k: v for k, v in shape.items() if v is not None},
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    source = ", ".join(w.name for w in workloads)
    result = train_fee_model(traces, config, source=source, log=None if args.quiet else print)
    args.out.write_bytes(result.model_bytes)
    print(f"trained on {result.train_rows} rows, held out {result.holdout_rows}")
    print("held-out coverage: " + ", ".join(f"{k} {v:.3f}" for k, v in result.coverage.items()))
    print(f"wrote {args.out} ({len(result.model_bytes):,} bytes)")
    print(f"sha256 {result.sha256.hex()}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from node.errors import ConfigError
    from node.fees.bench import parse_estimators, parse_queries, run_fee_bench, write_fee_results
    from node.fees.model import load_fee_model
    from node.research.bench import Workload
    from node.research.cli import _Progress

    if args.model_hash is not None and args.model is None:
        raise ConfigError("--model-hash needs --model")
    estimators = parse_estimators(args.estimators)
    queries = parse_queries(args.blocks, args.confidence)
    model = (
        None if args.model is None else load_fee_model(args.model, expected_sha256=args.model_hash)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    workload = Workload.open(args.workload)
    progress = _Progress(enabled=not args.quiet)
    with progress:
        bench = run_fee_bench(
            workload,
            list(range(args.seed, args.seed + args.seeds)),
            estimators=estimators,
            queries=queries,
            production=_production(args),
            duration_s=args.duration,
            model=model,
            progress=progress.update,
        )
    print_table(bench)
    for path in write_fee_results(bench, args.out):
        print(f"wrote {path}")
    return 0


def print_table(bench: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from node.research.bench import fmt_estimate

    seeds = bench.seeds
    shown = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}..{seeds[-1]}"
    for q in bench.queries:
        table = Table(title=f"{bench.workload.name}, {shown}, {q.label}: mean ± 95% CI half-width")
        table.add_column("estimator")
        for phase in ("all", "steady", "burst"):
            table.add_column(f"calibration {phase}", justify="right")
            table.add_column(f"overpay {phase}", justify="right")
        for name in bench.estimators:
            cells = []
            for phase in ("all", "steady", "burst"):
                cells.append(fmt_estimate(bench.summary(name, q, phase, "calibration"), 3))
                cells.append(fmt_estimate(bench.summary(name, q, phase, "overpay_mean"), 1))
            table.add_row(name, *cells)
        free = [
            fmt_estimate(bench.summary(bench.estimators[0], q, p, "free"), 3)
            for p in ("all", "steady", "burst")
        ]
        table.add_row("(no fee needed)", free[0], "", free[1], "", free[2], "")
        Console(width=160).print(table)
    if bench.model_sha256:
        print(f"fee model sha256 {bench.model_sha256}")
