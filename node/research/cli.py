"""``ordinet sched``: generate workloads, train models, bench policies.

- ``sched gen --workload W.toml --seed S --out TRACE`` writes a labelled
  trace (.csv or .jsonl, by extension);
- ``sched train --workload TRACE --out MODEL [--seed S]`` trains the
  learned policy's model, prints held-out metrics and the model's SHA-256;
- ``sched bench --workload TRACE --policies fifo,fee,fair-fee,package,learned,oracle --out DIR``
  replays the trace under each policy and prints and writes the results.

``--workload`` of train and bench also takes a workload TOML, generated
on the fly with ``--seed``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from node.argtypes import int_in, positive, positive_int, whole
from node.errors import ConfigError
from node.research.replay import BlockProduction
from node.research.trace import write_trace
from node.research.workloads import generate, load_trace, load_workload
from node.scheduling.model import MAX_MODEL_TREES, MAX_TREE_DEPTH

DEFAULT_POLICIES = "fifo,fee,fair-fee,package,learned,oracle"


def register(subparsers: Any) -> None:
    sched = subparsers.add_parser(
        "sched",
        help="transaction scheduling: workloads, models, bench",
        description="Generate labelled workloads, train the learned policy, bench policies.",
    )
    sub = sched.add_subparsers(dest="sched_command", metavar="SUBCOMMAND", required=True)

    gen = sub.add_parser("gen", help="generate a labelled trace from a workload TOML")
    gen.add_argument("--workload", required=True, type=Path, help="workload description (.toml)")
    gen.add_argument("--seed", type=whole, default=0, help="random seed (default 0)")
    gen.add_argument("--out", required=True, type=Path, help="trace file (.csv or .jsonl)")
    gen.add_argument(
        "--duration", type=positive, default=None, help="override the workload's duration_s"
    )
    gen.set_defaults(func=cmd_gen)

    tr = sub.add_parser("train", help="train the learned policy's model on a labelled trace")
    tr.add_argument(
        "--workload",
        required=True,
        type=Path,
        action="append",
        help="trace (.csv/.jsonl) or .toml; repeat it to train on several (a .toml is "
        "generated with --seed)",
    )
    tr.add_argument(
        "--max-duration",
        type=positive,
        default=None,
        metavar="S",
        help="generate at most S seconds of each .toml workload (default: its duration_s)",
    )
    tr.add_argument("--out", required=True, type=Path, help="model file to write (.json)")
    tr.add_argument("--seed", type=whole, default=0, help="random seed (default 0)")
    tr.add_argument(
        "--holdout",
        type=_fraction,
        default=0.2,
        help="share of rows (the last ones) held out for metrics (default 0.2)",
    )
    tr.add_argument(
        "--trees",
        type=int_in(1, MAX_MODEL_TREES),
        default=None,
        help=f"boosting stages (default: the recipe's, node/research/train.py; at most "
        f"{MAX_MODEL_TREES}, what the loader takes)",
    )
    tr.add_argument(
        "--max-depth",
        type=int_in(1, MAX_TREE_DEPTH),
        default=None,
        help=f"depth of each tree (default: the recipe's; at most {MAX_TREE_DEPTH})",
    )
    _production_args(tr)
    tr.set_defaults(func=cmd_train)

    be = sub.add_parser("bench", help="replay a workload under several policies")
    be.add_argument("--workload", required=True, type=Path, help="trace (.csv/.jsonl) or .toml")
    be.add_argument(
        "--policies",
        default=DEFAULT_POLICIES,
        help=f"comma-separated policy names (default {DEFAULT_POLICIES})",
    )
    be.add_argument(
        "--policy-module",
        action="append",
        default=[],
        metavar="PATH_OR_MODULE",
        help="a .py file or module whose @register policies --policies may name (repeatable)",
    )
    be.add_argument(
        "--seed",
        type=whole,
        default=0,
        help="seed for a .toml workload and for --train-frac training",
    )
    be.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model file for the learned policy (default: the shipped model)",
    )
    be.add_argument("--model-hash", default=None, help="refuse --model unless it has this SHA-256")
    be.add_argument(
        "--train-frac",
        type=_fraction,
        default=None,
        help="train the learned model on this first share of the trace, bench on the rest",
    )
    be.add_argument("--out", required=True, type=Path, help="directory for the results")
    be.add_argument("--quiet", action="store_true", help="no progress bar")
    be.add_argument(
        "--bound",
        action="store_true",
        help="also solve the LP upper bound on utility and report each policy's fraction of it",
    )
    _production_args(be)
    be.set_defaults(func=cmd_bench)


def _production_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--blocks",
        type=whole,
        default=0,
        help="blocks to produce (default: enough to cover the trace)",
    )
    p.add_argument("--block-size", type=positive_int, default=100, help="max txs per block")
    p.add_argument(
        "--block-bytes",
        type=whole,
        default=0,
        help="max bytes per block (default: 350 per tx of --block-size)",
    )
    p.add_argument(
        "--interval", type=positive, default=1.0, help="seconds between blocks (default 1.0)"
    )


def _production(args: argparse.Namespace) -> BlockProduction:
    return BlockProduction(
        interval_s=args.interval,
        block_txs=args.block_size,
        block_bytes=args.block_bytes,
        blocks=args.blocks,
    )


def _fraction(text: str) -> float:
    value = positive(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def _err(message: str) -> None:
    print(message, file=sys.stderr)


# -- commands ----------------------------------------------------------------------


def cmd_gen(args: argparse.Namespace) -> int:
    spec = load_workload(args.workload)
    trace = generate(spec, args.seed, duration_s=args.duration)
    write_trace(trace, args.out)
    counts = {c: trace.tx_class.count(c) for c in trace.classes}
    mix = ", ".join(f"{c} {n}" for c, n in counts.items())
    print(
        f"wrote {len(trace)} txs of workload {spec.name!r} (seed {args.seed}) to {args.out} [{mix}]"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from node.research.train import TrainConfig, train

    traces = [load_trace(w, args.seed, max_duration_s=args.max_duration) for w in args.workload]
    shape = {"trees": args.trees, "max_depth": args.max_depth}
    config = TrainConfig(
        seed=args.seed,
        holdout_frac=args.holdout,
        production=_production(args),
        **{k: v for k, v in shape.items() if v is not None},
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)  # before the work: a bad path fails now
    result = train(traces, config, source=", ".join(w.name for w in args.workload))
    args.out.write_bytes(result.model_bytes)
    m = result.metrics
    print(f"trained on {result.train_rows} rows, held out {result.holdout_rows}")
    print(f"held-out R2 {m['r2']:.4f}  Spearman {m['spearman']:.4f}")
    print(
        f"held-out utility in the top quarter: model {m['top_quarter_capture_model']:.3f}, "
        f"fee rate {m['top_quarter_capture_fee_rate']:.3f} (oracle 1.000)"
    )
    print(f"wrote {args.out} ({len(result.model_bytes):,} bytes)")
    print(f"sha256 {result.sha256.hex()}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from node.research.bench import parse_policies, run_bench, table_rows, write_results
    from node.scheduling.plugins import load_policy_modules

    load_policy_modules(args.policy_module)
    policies = parse_policies(args.policies)
    if args.model_hash is not None and args.model is None:
        raise ConfigError("--model-hash needs --model")
    if args.model is not None and args.train_frac is not None:
        raise ConfigError("give either --model or --train-frac, not both")
    production = _production(args)
    args.out.mkdir(parents=True, exist_ok=True)  # before the work: a bad path fails now
    trace = load_trace(args.workload, args.seed)
    progress = _Progress(enabled=not args.quiet)
    with progress:
        report = run_bench(
            trace,
            policies,
            production,
            workload=args.workload.name,
            seed=args.seed,
            model_path=args.model,
            model_hash=args.model_hash,
            train_frac=args.train_frac,
            progress=progress.update,
            log=_err,
            with_bound=args.bound,
        )
    _print_table(report, table_rows)
    for path in write_results(report, args.out):
        print(f"wrote {path}")
    return 0


def _print_table(report: Any, table_rows: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    header, rows = table_rows(report)
    p = report.production
    table = Table(
        title=(
            f"{report.workload}: {report.bench_rows:,} txs, "
            f"{p.block_txs} txs/{p.limits.max_bytes:,} B per block "
            f"every {p.interval_s:g} s"
        )
    )
    table.add_column(header[0])
    for name in header[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=max(100, 20 + 14 * len(header))).print(table)
    if report.model_sha256:
        print(f"learned model sha256 {report.model_sha256}")


class _Progress:
    """A rich progress bar on stderr, one task per policy."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description:>10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("blocks"),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def update(self, name: str, k: int, total: int) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._progress.add_task(name, total=total)
        if k == total or k % 16 == 0:
            self._progress.update(task, completed=k)
