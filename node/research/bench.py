"""The scheduling bench: one workload through several policies, side by side, over seeds.

Every policy sees the same trace under the same block production
(``replay.py`` drives the real mempool), and is measured on:

- ``utility``: sum of ``value`` over included txs that made their deadline
  (included at most ``deadline_s`` after arrival; no deadline: any time);
- ``fee_revenue``: sum of the fees of included txs;
- ``deadline_hit_rate``: share of the txs that have a deadline which made it;
- ``latency_mean_s`` / ``latency_p50_s`` / ``latency_p99_s``: inclusion
  latency (block time minus arrival) over included txs;
- ``jain_fairness``: Jain's index (sum x)^2 / (n * sum x^2) over senders,
  x = the share of a sender's txs that were included;
- ``spam_admitted``: txs of class ``spam`` or ``gap`` the pool accepted;
- ``included``: txs included;
- ``cpu_ms_per_block``: process time in admission (scoring) and block
  selection, per block;

and, per label class (``by_class``), its utility, deadline hit rate,
latencies and included count. ``bound`` among the policies is no replay:
the LP upper bound on utility (``bounds.py``), which every table divides
each policy's utility by.

``run_bench`` runs one trace; ``run_seeds`` runs a workload on K seeds (or
its cold start, the second half with an empty history, ``--cold-start``)
and reduces each metric to a mean with a 95% Student-t interval, plus the
paired ratio of the learned policy to each other (``stats.py``);
``matrix.py`` trains a model on each workload and benches it on each.
Results go to ``results.json`` (schema 2, docs/SCHEDULING.md),
``results.csv`` and the plots of ``plots.py``. Only the CPU figures vary
between runs of the same seeds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import platform
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.research.bounds import bound_of_trace
from node.research.network import NetworkSpec, network_replay
from node.research.replay import BlockProduction, Replayer, ReplayResult
from node.research.stats import Estimate, mean_ci, paired_ratio_ci
from node.research.trace import Trace, read_trace
from node.research.train import TrainConfig, train
from node.research.workloads import WorkloadSpec, generate, load_workload
from node.scheduling.baselines import with_walk
from node.scheduling.learned import LearnedPolicy
from node.scheduling.model import parse_model
from node.scheduling.oracle import in_time
from node.scheduling.policy import (
    ZERO_HASH,
    Policy,
    is_bench_only,
    is_policy_name,
    make_policy,
    policy_names,
)

#: The name of the LP upper bound among ``--policies`` (not a replay).
BOUND = "bound"
#: The policy whose paired ratio to every other one is reported.
LEARNED = "learned"
#: Classes counted by ``spam_admitted``: the spam and nonce-gap floods.
SPAM_CLASSES = ("spam", "gap")
METRIC_NAMES = (
    "utility",
    "fee_revenue",
    "deadline_hit_rate",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p99_s",
    "jain_fairness",
    "spam_admitted",
    "included",
    "cpu_ms_per_block",
)
CLASS_METRIC_NAMES = (
    "utility",
    "deadline_hit_rate",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p99_s",
    "included",
)
RESULTS_SCHEMA = 2

Progress = Callable[[str, int, int], None]
Log = Callable[[str], None]


@dataclass(frozen=True)
class ClassMetrics:
    txs: int
    included: int
    utility: float
    deadline_hit_rate: float | None
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p99_s: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PolicyMetrics:
    utility: float
    fee_revenue: int
    deadline_hit_rate: float | None
    latency_mean_s: float | None
    latency_p50_s: float | None
    latency_p99_s: float | None
    jain_fairness: float
    spam_admitted: int
    included: int
    cpu_ms_per_block: float
    by_class: dict[str, ClassMetrics]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in METRIC_NAMES}
        out["by_class"] = {c: m.to_json() for c, m in self.by_class.items()}
        return out


def _percentile(x: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(x, q)), 6) if len(x) else None


def _mean(x: np.ndarray) -> float | None:
    return round(float(x.mean()), 6) if len(x) else None


def _hit_rate(on_time: np.ndarray, has_deadline: np.ndarray) -> float | None:
    deadlines = int(has_deadline.sum())
    return round(float((on_time & has_deadline).sum()) / deadlines, 6) if deadlines else None


def jain_index(x: np.ndarray) -> float:
    """Jain's fairness index of non-negative shares; 1.0 when all are equal (or all 0)."""
    square_sum = float((x * x).sum())
    if len(x) == 0 or square_sum == 0.0:
        return 1.0
    return float(x.sum()) ** 2 / (len(x) * square_sum)


def measure(trace: Trace, result: ReplayResult) -> PolicyMetrics:
    """The bench metrics of one replay."""
    included = ~np.isnan(result.included_s)
    latency = result.included_s - trace.arrival_s
    has_deadline = ~np.isnan(trace.deadline_s)
    on_time = included & in_time(latency, trace.deadline_s)
    classes = np.asarray(trace.tx_class)
    by_class = {}
    for c in trace.classes:
        mine = classes == c
        lat = latency[included & mine]
        by_class[c] = ClassMetrics(
            txs=int(mine.sum()),
            included=len(lat),
            utility=round(float(trace.value[on_time & mine].sum()), 6),
            deadline_hit_rate=_hit_rate(on_time & mine, has_deadline & mine),
            latency_mean_s=_mean(lat),
            latency_p50_s=_percentile(lat, 50),
            latency_p99_s=_percentile(lat, 99),
        )
    _, sender_ids = np.unique(np.asarray(trace.sender), return_inverse=True)
    submitted = np.bincount(sender_ids)
    got = np.bincount(sender_ids, weights=included.astype(np.float64), minlength=len(submitted))
    return PolicyMetrics(
        utility=round(float(trace.value[on_time].sum()), 6),
        fee_revenue=int(trace.fee[included].sum()),
        deadline_hit_rate=_hit_rate(on_time, has_deadline),
        latency_mean_s=_mean(latency[included]),
        latency_p50_s=_percentile(latency[included], 50),
        latency_p99_s=_percentile(latency[included], 99),
        jain_fairness=round(jain_index(got / submitted), 6),
        spam_admitted=int((result.admitted & np.isin(classes, SPAM_CLASSES)).sum()),
        included=int(included.sum()),
        cpu_ms_per_block=round(1000.0 * result.cpu_s / max(result.blocks, 1), 4),
        by_class=by_class,
    )


@dataclass(frozen=True)
class ModelInfo:
    """The model a policy ranked with: its SHA-256 and the training metadata it carries."""

    sha256: str
    training: dict[str, Any]


def _model_of(policy: Policy) -> ModelInfo | None:
    if policy.model_hash == ZERO_HASH:
        return None
    # a NAME+WALK policy keeps the model in the policy it wraps
    model = getattr(policy, "model", None) or getattr(getattr(policy, "inner", None), "model", None)
    return ModelInfo(policy.model_hash.hex(), dict(getattr(model, "training", None) or {}))


@dataclass
class BenchReport:
    """One trace through each policy (and the bound, when asked for)."""

    workload: str
    seed: int
    production: BlockProduction
    bench_rows: int
    tx_class: np.ndarray  # the class of each benched row
    policies: dict[str, PolicyMetrics] = field(default_factory=dict)
    #: per policy, each row's inclusion latency (NaN: never included)
    latency_s: dict[str, np.ndarray] = field(default_factory=dict)
    models: dict[str, ModelInfo] = field(default_factory=dict)
    #: the LP upper bound on utility (``bounds.bound_of_trace``), when asked for
    bound_utility: float | None = None

    @property
    def model_sha256(self) -> str | None:
        """The learned policy's model hash (hex), if it ran."""
        info = self.models.get(LEARNED)
        return info.sha256 if info else None


def parse_policies(text: str) -> list[str]:
    """The policy names of ``--policies``: registered policies and ``bound``."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = [*policy_names(), BOUND]
    unknown = [n for n in names if n != BOUND and not is_policy_name(n)]
    if unknown or not names:
        raise ConfigError(
            f"unknown scheduling polic{'ies' if len(unknown) > 1 else 'y'} "
            f"{', '.join(unknown) or '(none given)'} (known: {', '.join(known)}; each also "
            "as NAME+package or NAME+greedy)",
            code="unknown_policy",
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"--policies names a policy twice: {text}", code="unknown_policy")
    return names


def run_bench(
    trace: Trace,
    policies: Sequence[str],
    production: BlockProduction,
    *,
    workload: str,
    seed: int = 0,
    start_nonces: dict[str, int] | None = None,
    model_path: str | Path | None = None,
    model_hash: bytes | str | None = None,
    train_frac: float | None = None,
    train_config: TrainConfig | None = None,
    network: NetworkSpec | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
) -> BenchReport:
    """Replay ``trace`` under each policy, every account starting at
    ``start_nonces`` (default 0); ``bound`` among the policies solves the LP
    bound instead. With ``train_frac``, train the learned policy's model on
    the first part and bench on the rest. With ``network``, each policy runs
    on every node of a simulated network instead (node/research/network.py)."""
    trace = trace.sorted_by_arrival()
    if network is not None:
        _check_network_run(policies, start_nonces, train_frac)
    learned_model = None
    start = dict(start_nonces or {})
    if train_frac is not None:
        if start:
            raise ConfigError(
                "give either a cold start or --train-frac, not both: each cuts the trace"
            )
        head, trace = trace.split(train_frac)
        start = head.next_nonces()  # the bench starts where the head left off
        config = train_config or TrainConfig(seed=seed, production=production)
        trained = train(head, config, source=f"{workload} (first {train_frac:g})")
        learned_model = parse_model(trained.model_bytes, "trained model", trained.sha256)
        if log is not None:
            log(
                f"trained on {len(head)} txs (held-out metrics {trained.metrics}); "
                f"model sha256 {trained.sha256.hex()}"
            )
    if len(trace) == 0:
        raise ConfigError("the workload has no transactions to bench", code="bad_trace")
    replayer = Replayer(trace, start)
    report = BenchReport(
        workload=workload,
        seed=seed,
        production=production,
        bench_rows=len(trace),
        tx_class=np.asarray(trace.tx_class),
    )
    blocks = production.block_count(trace)
    for name in policies:
        if name == BOUND:
            report.bound_utility = round(bound_of_trace(trace, production, start).utility, 6)
            if progress is not None:
                progress(f"seed {seed} {name}", 1, 1)
            continue
        policy: Policy
        if name.split("+")[0] == LEARNED:
            learned = LearnedPolicy(
                model_path=model_path, model_hash=model_hash, model=learned_model
            )
            policy = learned if name == LEARNED else with_walk(learned, name.split("+")[1])
        else:
            policy = make_policy(name)
        model = _model_of(policy)
        if model is not None:
            report.models[name] = model

        def tick(k: int, label: str = f"seed {seed} {name}") -> None:
            if progress is not None:
                progress(label, k, blocks)

        if network is None:
            result = replayer.run(policy, production, progress=tick)
        else:
            result = network_replay(
                trace,
                name,
                production,
                network,
                seed=seed,
                model_path=model_path,
                model_hash=model_hash,
                progress=tick,
            )
        report.policies[name] = measure(trace, result)
        report.latency_s[name] = result.included_s - trace.arrival_s
    return report


def _check_network_run(
    policies: Sequence[str], start_nonces: dict[str, int] | None, train_frac: float | None
) -> None:
    """What a network bench cannot do, refused up front."""
    if start_nonces:
        raise ConfigError(
            "--network starts every account at nonce 0: it cannot take a --cold-start",
            code="bad_network",
        )
    if train_frac is not None:
        raise ConfigError(
            "--network runs models from files: train one first (`sched train`), then --model",
            code="bad_network",
        )
    for name in policies:
        if name == BOUND or is_bench_only(name):
            raise ConfigError(
                f"--network: {name!r} needs the hidden labels of a single replay; it cannot "
                "run on a network",
                code="bad_network",
            )


# -- workloads -------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A workload file as the bench names it: a TOML description (one trace
    per seed) or a trace file (one fixed trace)."""

    path: Path
    name: str
    sha256: str
    spec: WorkloadSpec | None  # None: a trace file
    fixed: Trace | None = None

    @staticmethod
    def open(path: str | Path) -> Workload:
        """Read and check the file (ConfigError if it is unreadable or invalid)."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read workload: {exc.strerror}", code="bad_workload"
            ) from None
        digest = hashlib.sha256(raw).hexdigest()
        if path.suffix.lower() == ".toml":
            spec = load_workload(path)
            return Workload(path, spec.name, digest, spec)
        return Workload(path, path.stem, digest, None, read_trace(path))

    @property
    def generated(self) -> bool:
        return self.spec is not None

    def trace(self, seed: int, duration_s: float | None = None) -> Trace:
        """The trace of ``seed`` (a TOML for at most ``duration_s``; a file is the file)."""
        if self.spec is None:
            assert self.fixed is not None
            return self.fixed
        duration = self.spec.duration_s
        if duration_s is not None:
            duration = min(duration, duration_s)
        return generate(self.spec, seed, duration_s=duration)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "name": self.name}


def workload_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files and directories of workload TOMLs, expanded (a directory: its *.toml)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.toml"))
            if not found:
                raise ConfigError(f"{p}: no workload .toml in this directory", code="bad_workload")
            out += found
        else:
            out.append(p)
    return out


# -- over seeds ------------------------------------------------------------------


def _estimate(values: Iterable[float | None]) -> Estimate | None:
    """Mean and CI of the defined values (None: no seed defined it)."""
    defined = [v for v in values if v is not None]
    return mean_ci(defined) if defined else None


def est_json(e: Estimate | None) -> dict[str, float | int] | None:
    return None if e is None else e.to_json()


@dataclass
class BenchSeries:
    """A workload benched on several seeds: one ``BenchReport`` per seed."""

    workload: Workload
    seeds: list[int]
    cold_start: bool
    production: BlockProduction
    policies: list[str]  # as asked for, ``bound`` included
    runs: list[BenchReport]
    duration_s: float | None = None
    network: NetworkSpec | None = None

    @property
    def replayed(self) -> list[str]:
        return [p for p in self.policies if p != BOUND]

    @property
    def classes(self) -> list[str]:
        seen: dict[str, None] = {}
        for run in self.runs:
            for m in run.policies.values():
                seen.update(dict.fromkeys(m.by_class))
        return list(seen)

    def values(self, policy: str, metric: str) -> list[Any]:
        """The metric of ``policy`` on each seed."""
        return [getattr(run.policies[policy], metric) for run in self.runs]

    def class_values(self, policy: str, cls: str, metric: str) -> list[Any]:
        out = []
        for run in self.runs:
            m = run.policies[policy].by_class.get(cls)
            out.append(None if m is None else getattr(m, metric))
        return out

    @property
    def bounds(self) -> list[float] | None:
        """The bound's utility on each seed (None if not asked for)."""
        if BOUND not in self.policies:
            return None
        return [float(run.bound_utility or 0.0) for run in self.runs]

    def summary(self) -> dict[str, dict[str, Estimate | None]]:
        """Per policy, per metric: mean and 95% CI over the seeds; ``utility_of_bound``
        is the mean of the per-seed fractions of the bound."""
        out: dict[str, dict[str, Estimate | None]] = {}
        bounds = self.bounds
        for name in self.policies:
            if name == BOUND:
                assert bounds is not None
                ones = [1.0] * len(bounds)
                out[name] = {"utility": mean_ci(bounds), "utility_of_bound": mean_ci(ones)}
                continue
            row = {metric: _estimate(self.values(name, metric)) for metric in METRIC_NAMES}
            if bounds is not None:
                row["utility_of_bound"] = paired_ratio_ci(self.values(name, "utility"), bounds)
            out[name] = row
        return out

    def ratios(self) -> dict[str, dict[str, Estimate | None]]:
        """{"learned": {OTHER: paired ratio of utility, learned / OTHER}} when learned ran."""
        if LEARNED not in self.replayed:
            return {}
        mine = self.values(LEARNED, "utility")
        return {
            LEARNED: {
                other: paired_ratio_ci(mine, self.values(other, "utility"))
                for other in self.replayed
                if other != LEARNED
            }
        }

    def per_class(self) -> dict[str, dict[str, dict[str, Estimate | None]]]:
        """Per policy, per class, per class metric: mean and 95% CI over the seeds."""
        return {
            name: {
                c: {m: _estimate(self.class_values(name, c, m)) for m in CLASS_METRIC_NAMES}
                for c in self.classes
            }
            for name in self.replayed
        }

    def models(self) -> dict[str, list[dict[str, Any]]]:
        """Per policy that ran a model: each distinct model and the seeds it served."""
        out: dict[str, list[dict[str, Any]]] = {}
        for run in self.runs:
            for name, info in run.models.items():
                entries = out.setdefault(name, [])
                same = [e for e in entries if e["sha256"] == info.sha256]
                if same:
                    same[0]["seeds"].append(run.seed)
                else:
                    entries.append(
                        {"sha256": info.sha256, "training": info.training, "seeds": [run.seed]}
                    )
        return out

    def pooled_latencies(self, policy: str, cls: str) -> np.ndarray:
        """Inclusion latencies of ``cls`` under ``policy``, pooled over the seeds, sorted."""
        parts = []
        for run in self.runs:
            lat = run.latency_s[policy][run.tx_class == cls]
            parts.append(lat[~np.isnan(lat)])
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0)

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` document (schema 2, docs/SCHEDULING.md)."""
        bounds = self.bounds
        return {
            "schema": RESULTS_SCHEMA,
            "workload": {**self.workload.to_json(), "duration_s": self.duration_s},
            "seeds": list(self.seeds),
            "cold_start": self.cold_start,
            "production": asdict(self.production),
            "network": None if self.network is None else self.network.to_json(),
            "policies": list(self.policies),
            "model": self.models(),
            "versions": versions(),
            "git_commit": git_commit(),
            "per_seed": [
                {
                    "seed": run.seed,
                    "txs": run.bench_rows,
                    "bound": run.bound_utility,
                    "policies": {n: m.to_json() for n, m in run.policies.items()},
                }
                for run in self.runs
            ],
            "summary": {
                name: {m: est_json(e) for m, e in row.items()}
                for name, row in self.summary().items()
            },
            "ratios": {
                num: {other: est_json(e) for other, e in row.items()}
                for num, row in self.ratios().items()
            },
            "per_class": {
                name: {c: {m: est_json(e) for m, e in row.items()} for c, row in classes.items()}
                for name, classes in self.per_class().items()
            },
            "bound": bounds,
        }


def run_seeds(
    workload: Workload,
    policies: Sequence[str],
    production: BlockProduction,
    seeds: Sequence[int],
    *,
    cold_start: bool = False,
    duration_s: float | None = None,
    model_path: str | Path | None = None,
    model_hash: bytes | str | None = None,
    train_frac: float | None = None,
    network: NetworkSpec | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
) -> BenchSeries:
    """Bench ``workload`` on each seed (its cold start with ``cold_start``)."""
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("the bench needs at least one seed", code="bad_seeds")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds repeat: {seeds}", code="bad_seeds")
    if not workload.generated and len(seeds) > 1 and train_frac is None:
        raise ConfigError(
            f"{workload.path}: a trace file is one fixed draw: several seeds need a workload "
            ".toml (or --train-frac, which trains with each seed)",
            code="bad_seeds",
        )
    runs = []
    for seed in seeds:
        trace = workload.trace(seed, duration_s)
        start: dict[str, int] = {}
        if cold_start:
            trace, start = trace.second_half()
        runs.append(
            run_bench(
                trace,
                policies,
                production,
                workload=workload.name,
                seed=seed,
                start_nonces=start,
                model_path=model_path,
                model_hash=model_hash,
                train_frac=train_frac,
                network=network,
                progress=progress,
                log=log,
            )
        )
    return BenchSeries(
        workload=workload,
        seeds=seeds,
        cold_start=cold_start,
        production=production,
        policies=list(policies),
        runs=runs,
        duration_s=duration_s,
        network=network,
    )


# -- provenance ------------------------------------------------------------------


def versions() -> dict[str, str]:
    """The versions of what produced the figures."""
    import scipy
    import sklearn

    import node

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scipy": scipy.__version__,
        "ordinet": node.__version__,
    }


def git_commit(where: Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of the checkout this code runs from (or of
    ``where``); None outside a git checkout or without git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) in (40, 64) else None


# -- output ----------------------------------------------------------------------


def write_results(series: BenchSeries, out_dir: str | Path) -> list[Path]:
    """results.json, results.csv (a row per seed and policy) and the plots in ``out_dir``."""
    from node.research import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(series.to_json(), indent=2) + "\n")
    csv_path = out / "results.csv"
    classes = series.classes
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(
            [
                "seed",
                "policy",
                *METRIC_NAMES,
                "utility_of_bound",
                *(f"{m}[{c}]" for c in classes for m in CLASS_METRIC_NAMES),
            ]
        )
        for run in series.runs:
            for name, m in run.policies.items():
                row = m.to_json()
                share = m.utility / run.bound_utility if run.bound_utility else None
                cells = [
                    getattr(m.by_class.get(c), k, None) for c in classes for k in CLASS_METRIC_NAMES
                ]
                writer.writerow(
                    [
                        run.seed,
                        name,
                        *("" if row[k] is None else row[k] for k in METRIC_NAMES),
                        "" if share is None else round(share, 6),
                        *("" if v is None else v for v in cells),
                    ]
                )
    return [json_path, csv_path, *plots.write_plots(series, out)]


def _fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def fmt_estimate(e: Estimate | None, digits: int = 2) -> str:
    """``mean ± half-width`` (just the mean for one seed)."""
    if e is None:
        return "-"
    if e.n == 1:
        return _fmt(e.mean, digits)
    return f"{_fmt(e.mean, digits)} ± {_fmt(e.half_width, digits)}"


def fmt_interval(e: Estimate | None, digits: int = 3) -> str:
    """``mean [lo, hi]`` (just the mean for one seed)."""
    if e is None:
        return "-"
    if e.n == 1:
        return _fmt(e.mean, digits)
    return f"{_fmt(e.mean, digits)} [{_fmt(e.lo, digits)}, {_fmt(e.hi, digits)}]"


#: The table's metric rows: (label, metric, digits).
_TABLE_METRICS = (
    ("utility", "utility", 1),
    ("  of bound", "utility_of_bound", 3),
    ("fee revenue", "fee_revenue", 0),
    ("deadline hit rate", "deadline_hit_rate", 3),
    ("latency mean (s)", "latency_mean_s", 2),
    ("latency p50 (s)", "latency_p50_s", 2),
    ("latency p99 (s)", "latency_p99_s", 2),
    ("Jain fairness", "jain_fairness", 3),
    ("spam admitted", "spam_admitted", 0),
    ("txs included", "included", 0),
    ("CPU ms / block", "cpu_ms_per_block", 3),
)
_TABLE_CLASS_METRICS = (
    ("utility", "utility", 1),
    ("hit rate", "deadline_hit_rate", 3),
    ("p99 (s)", "latency_p99_s", 2),
)


def table_rows(series: BenchSeries) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table: a header and one row per metric, a column per
    policy; cells are mean ± the 95% CI's half-width over the seeds."""
    names = series.policies
    summary = series.summary()
    per_class = series.per_class()
    rows = []
    for label, metric, digits in _TABLE_METRICS:
        if metric == "utility_of_bound" and BOUND not in names:
            continue
        rows.append([label, *(fmt_estimate(summary[n].get(metric), digits) for n in names)])
    for c in series.classes:
        for label, metric, digits in _TABLE_CLASS_METRICS:
            rows.append(
                [
                    f"  {c} {label}",
                    *(
                        fmt_estimate(per_class[n][c][metric], digits) if n in per_class else "-"
                        for n in names
                    ),
                ]
            )
    ratios = series.ratios().get(LEARNED)
    if ratios:
        rows.append([f"{LEARNED} / policy", *(fmt_interval(ratios.get(n)) for n in names)])
    return ["metric", *names], rows
