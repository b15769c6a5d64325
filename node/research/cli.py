"""``ordinet sched``: generate workloads, train models, bench policies.

- ``sched gen --workload W.toml --seed S --out TRACE`` writes a labelled
  trace (.csv or .jsonl, by extension);
- ``sched train --workload TRACE --out MODEL [--seed S]`` trains the
  learned policy's model, prints held-out metrics and the model's SHA-256;
- ``sched bench --workload TRACE --policies fifo,fee,fair-fee,package,learned,bound
  --seeds K --out DIR``
  replays the trace of each seed under each policy (``bound``: the LP upper
  bound), prints means with 95% CIs and writes the results; ``--cold-start``
  benches the second half with an empty history; ``--matrix`` trains a model
  on each workload and benches it on each.

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

    be = sub.add_parser("bench", help="replay a workload under several policies, over seeds")
    be.add_argument(
        "--workload",
        type=Path,
        action="append",
        default=[],
        help="trace (.csv/.jsonl) or .toml; with --matrix repeatable, and a directory means "
        "its *.toml (default there: every shipped workload)",
    )
    be.add_argument(
        "--policies",
        default=None,
        help=f"comma-separated policy names, `bound` for the LP upper bound "
        f"(default {DEFAULT_POLICIES})",
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
        default=1,
        help="the first seed of a .toml workload (and of --train-frac training; default 1)",
    )
    be.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        metavar="K",
        help="bench K seeds, --seed .. --seed+K-1; report means with 95%% CIs (default 1)",
    )
    be.add_argument(
        "--duration",
        type=positive,
        default=None,
        metavar="S",
        help="generate at most S seconds of a .toml workload (default: its duration_s)",
    )
    be.add_argument(
        "--cold-start",
        action="store_true",
        help="bench the second half of each trace with an empty history (a node restarted "
        "mid-flood)",
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
    be.add_argument(
        "--matrix",
        action="store_true",
        help="the generalisation matrix: train a model on each --workload, bench it on each "
        "against the best of fee, fair-fee and package",
    )
    be.add_argument(
        "--train-seed",
        type=whole,
        action="append",
        default=[],
        metavar="S",
        help="with --matrix: a training seed (repeatable; default the recipe's, "
        "node/research/default_model.py)",
    )
    be.add_argument(
        "--network",
        type=positive_int,
        default=None,
        metavar="N",
        help="run each policy on every node of an N-validator simulated network (node/sim) "
        "instead of one pool: txs gossip between nodes, proposers build from their own pools",
    )
    be.add_argument(
        "--consensus",
        choices=("bft", "poa", "pow"),
        default="bft",
        help="the engine of the --network (default bft)",
    )
    be.add_argument(
        "--latency",
        default="uniform:5:60",
        help="one-way message delay of the --network: uniform:LO:HI, exp:LO:HI or fixed:MS "
        "(default uniform:5:60)",
    )
    be.add_argument("--out", required=True, type=Path, help="directory for the results")
    be.add_argument("--quiet", action="store_true", help="no progress bar")
    be.add_argument("--bound", action="store_true", help="the same as adding `bound` to --policies")
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
    from node.research.bench import (
        BOUND,
        Workload,
        parse_policies,
        run_seeds,
        write_results,
    )
    from node.scheduling.plugins import load_policy_modules

    load_policy_modules(args.policy_module)
    production = _production(args)
    seeds = list(range(args.seed, args.seed + args.seeds))
    if args.matrix:
        return _bench_matrix(args, production, seeds)
    if len(args.workload) != 1:
        raise ConfigError(
            "sched bench needs one --workload (several, or a directory, only with --matrix)"
        )
    policies = parse_policies(args.policies or DEFAULT_POLICIES)
    if args.bound and BOUND not in policies:
        policies.append(BOUND)
    if args.model_hash is not None and args.model is None:
        raise ConfigError("--model-hash needs --model")
    if args.model is not None and args.train_frac is not None:
        raise ConfigError("give either --model or --train-frac, not both")
    if args.cold_start and args.train_frac is not None:
        raise ConfigError("give either --cold-start or --train-frac, not both")
    if args.train_seed:
        raise ConfigError("--train-seed is for --matrix (--train-frac trains with --seed)")
    network = None
    if args.network is not None:
        from node.research.network import NetworkSpec

        network = NetworkSpec(args.network, args.consensus, args.latency)
    elif args.consensus != "bft" or args.latency != "uniform:5:60":
        raise ConfigError("--consensus and --latency describe a --network: give --network N")
    args.out.mkdir(parents=True, exist_ok=True)  # before the work: a bad path fails now
    workload = Workload.open(args.workload[0])
    progress = _Progress(enabled=not args.quiet)
    with progress:
        series = run_seeds(
            workload,
            policies,
            production,
            seeds,
            cold_start=args.cold_start,
            duration_s=args.duration,
            model_path=args.model,
            model_hash=args.model_hash,
            train_frac=args.train_frac,
            network=network,
            progress=progress.update,
            log=progress.log,
        )
    _print_table(series)
    for path in write_results(series, args.out):
        print(f"wrote {path}")
    return 0


def _bench_matrix(args: argparse.Namespace, production: BlockProduction, seeds: list[int]) -> int:
    from node.research.bench import Workload, workload_files
    from node.research.default_model import SEED as RECIPE_SEED
    from node.research.default_model import recipe_workloads
    from node.research.matrix import run_matrix, write_matrix

    given = {
        "--policies": args.policies is not None,
        "--model": args.model is not None,
        "--model-hash": args.model_hash is not None,
        "--train-frac": args.train_frac is not None,
        "--bound": args.bound,
        "--network": args.network is not None,
    }
    clash = [flag for flag, on in given.items() if on]
    if clash:
        raise ConfigError(
            f"--matrix trains its own models and benches learned against fee, fair-fee and "
            f"package: drop {', '.join(clash)}"
        )
    paths = workload_files(args.workload) if args.workload else recipe_workloads()
    workloads = [Workload.open(p) for p in paths]
    args.out.mkdir(parents=True, exist_ok=True)
    report = run_matrix(
        workloads,
        production,
        train_seeds=args.train_seed or [RECIPE_SEED],
        test_seeds=seeds,
        models_dir=args.out / "models",
        duration_s=args.duration,
        cold_start=args.cold_start,
        log=None if args.quiet else _err,
    )
    print(report.markdown(), end="")
    for path in write_matrix(report, args.out):
        print(f"wrote {path}")
    return 0


def _print_table(series: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from node.research.bench import table_rows

    header, rows = table_rows(series)
    p = series.production
    seeds = series.seeds
    txs = [run.bench_rows for run in series.runs]
    shown = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}..{seeds[-1]}"
    table = Table(
        title=(
            f"{series.workload.name}{' (cold start)' if series.cold_start else ''}, {shown}: "
            f"{min(txs):,}-{max(txs):,} txs, "
            f"{p.block_txs} txs/{p.limits.max_bytes:,} B per block every {p.interval_s:g} s"
            + ("" if len(seeds) == 1 else "; mean ± 95% CI half-width")
        )
    )
    table.add_column(header[0])
    for name in header[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=max(100, 24 + 20 * len(header))).print(table)
    for name, entries in series.models().items():
        for entry in entries:
            print(f"{name} model sha256 {entry['sha256']}")


class _Progress:
    """A rich progress bar on stderr per seed and policy; a line when each is done."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description:>18}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            _err(message)

    def update(self, label: str, k: int, total: int) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self._progress.add_task(label, total=total)
        if k == total:
            self._progress.remove_task(task)
            self._progress.console.print(f"{label}: done", markup=False, highlight=False)
        elif k % 16 == 0:
            self._progress.update(task, completed=k)
