"""The scheduling bench: one workload through several policies, side by side.

Every policy sees the same trace under the same block production
(``replay.py`` drives the real mempool), and is measured on:

- ``utility``: sum of ``value`` over included txs that made their deadline
  (included at most ``deadline_s`` after arrival; no deadline: any time);
- ``fee_revenue``: sum of the fees of included txs;
- ``deadline_hit_rate``: share of the txs that have a deadline which made it;
- ``latency_p50_s`` / ``latency_p99_s``: inclusion latency (block time minus
  arrival) over included txs; ``latency_p99_s_by_class`` the p99 per class;
- ``jain_fairness``: Jain's index (sum x)^2 / (n * sum x^2) over senders,
  x = the share of a sender's txs that were included;
- ``spam_admitted``: txs of class ``spam`` or ``gap`` the pool accepted;
- ``included``: txs included;
- ``cpu_ms_per_block``: process time in admission (scoring) and block
  selection, per block.

Results go to ``results.json`` (schema in DESIGN.md), ``results.csv`` and
``results.png``. Only the CPU figures vary between runs of the same seed.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.research.replay import BlockProduction, Replayer, ReplayResult
from node.research.trace import Trace
from node.research.train import TrainConfig, train
from node.scheduling.baselines import with_walk
from node.scheduling.learned import LearnedPolicy
from node.scheduling.model import parse_model
from node.scheduling.policy import Policy, is_policy_name, make_policy, policy_names

#: Classes counted by ``spam_admitted``: the spam and nonce-gap floods.
SPAM_CLASSES = ("spam", "gap")
METRIC_NAMES = (
    "utility",
    "fee_revenue",
    "deadline_hit_rate",
    "latency_p50_s",
    "latency_p99_s",
    "jain_fairness",
    "spam_admitted",
    "included",
    "cpu_ms_per_block",
)


@dataclass(frozen=True)
class PolicyMetrics:
    utility: float
    fee_revenue: int
    deadline_hit_rate: float | None
    latency_p50_s: float | None
    latency_p99_s: float | None
    latency_p99_s_by_class: dict[str, float | None]
    jain_fairness: float
    spam_admitted: int
    included: int
    cpu_ms_per_block: float

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in METRIC_NAMES}
        out["latency_p99_s_by_class"] = dict(self.latency_p99_s_by_class)
        return out


def _percentile(x: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(x, q)), 6) if len(x) else None


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
    on_time = included & (~has_deadline | (latency <= np.where(has_deadline, trace.deadline_s, 0)))
    classes = np.asarray(trace.tx_class)
    by_class = {c: _percentile(latency[included & (classes == c)], 99) for c in trace.classes}
    _, sender_ids = np.unique(np.asarray(trace.sender), return_inverse=True)
    submitted = np.bincount(sender_ids)
    got = np.bincount(sender_ids, weights=included.astype(np.float64), minlength=len(submitted))
    deadlines = int(has_deadline.sum())
    return PolicyMetrics(
        utility=round(float(trace.value[on_time].sum()), 6),
        fee_revenue=int(trace.fee[included].sum()),
        deadline_hit_rate=(
            round(float((on_time & has_deadline).sum()) / deadlines, 6) if deadlines else None
        ),
        latency_p50_s=_percentile(latency[included], 50),
        latency_p99_s=_percentile(latency[included], 99),
        latency_p99_s_by_class=by_class,
        jain_fairness=round(jain_index(got / submitted), 6),
        spam_admitted=int((result.admitted & np.isin(classes, SPAM_CLASSES)).sum()),
        included=int(included.sum()),
        cpu_ms_per_block=round(1000.0 * result.cpu_s / max(result.blocks, 1), 4),
    )


@dataclass
class BenchReport:
    workload: str
    seed: int
    production: BlockProduction
    bench_rows: int
    policies: dict[str, PolicyMetrics] = field(default_factory=dict)
    latencies: dict[str, np.ndarray] = field(default_factory=dict)
    model_sha256: str | None = None
    #: the LP upper bound on utility (``bounds.bound_of_trace``), when asked for
    bound_utility: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "seed": self.seed,
            "policies": {name: m.to_json() for name, m in self.policies.items()},
            **({} if self.bound_utility is None else {"bound_utility": self.bound_utility}),
        }


def parse_policies(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = policy_names()
    unknown = [n for n in names if not is_policy_name(n)]
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
    model_path: str | Path | None = None,
    model_hash: bytes | str | None = None,
    train_frac: float | None = None,
    train_config: TrainConfig | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    with_bound: bool = False,
) -> BenchReport:
    """Replay ``trace`` under each policy; with ``train_frac``, train the
    learned policy's model on the first part and bench on the rest."""
    trace = trace.sorted_by_arrival()
    learned_model = None
    start_nonces: dict[str, int] = {}
    if train_frac is not None:
        head, trace = trace.split(train_frac)
        start_nonces = head.next_nonces()  # the bench starts where the head left off
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
    replayer = Replayer(trace, start_nonces)
    report = BenchReport(workload=workload, seed=seed, production=production, bench_rows=len(trace))
    blocks = production.block_count(trace)
    for name in policies:
        policy: Policy
        if name.split("+")[0] == "learned":
            learned = LearnedPolicy(
                model_path=model_path, model_hash=model_hash, model=learned_model
            )
            report.model_sha256 = learned.model_hash.hex()
            policy = learned if name == "learned" else with_walk(learned, name.split("+")[1])
        else:
            policy = make_policy(name)

        def tick(k: int, name: str = name) -> None:
            if progress is not None:
                progress(name, k, blocks)

        result = replayer.run(policy, production, progress=tick)
        report.policies[name] = measure(trace, result)
        included = ~np.isnan(result.included_s)
        report.latencies[name] = np.sort((result.included_s - trace.arrival_s)[included])
    if with_bound:
        from node.research.bounds import bound_of_trace

        report.bound_utility = round(bound_of_trace(trace, production, start_nonces).utility, 6)
    return report


# -- output ----------------------------------------------------------------------


def write_results(report: BenchReport, out_dir: str | Path) -> list[Path]:
    """results.json, results.csv and results.png in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n")
    csv_path = out / "results.csv"
    classes = sorted({c for m in report.policies.values() for c in m.latency_p99_s_by_class})
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["policy", *METRIC_NAMES, *(f"latency_p99_s[{c}]" for c in classes)])
        for name, m in report.policies.items():
            row = m.to_json()
            writer.writerow(
                [
                    name,
                    *("" if row[k] is None else row[k] for k in METRIC_NAMES),
                    *(
                        ""
                        if m.latency_p99_s_by_class.get(c) is None
                        else m.latency_p99_s_by_class[c]
                        for c in classes
                    ),
                ]
            )
    png_path = out / "results.png"
    _plot(report, png_path)
    return [json_path, csv_path, png_path]


def _plot(report: BenchReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_cdf, ax_bar) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, lat in report.latencies.items():
        if len(lat):
            ax_cdf.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", label=name)
    ax_cdf.set_xlabel("inclusion latency (s)")
    ax_cdf.set_ylabel("share of included txs")
    ax_cdf.set_title("Latency CDF")
    ax_cdf.grid(alpha=0.3)
    if any(len(lat) for lat in report.latencies.values()):
        ax_cdf.legend()
    names = list(report.policies)
    ax_bar.bar(names, [report.policies[n].utility for n in names], color="tab:blue")
    ax_bar.set_ylabel("utility captured")
    ax_bar.set_title("Utility per policy")
    ax_bar.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{report.workload}: {report.bench_rows} txs, seed {report.seed}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def table_rows(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table: a header and one row per metric, a column per policy."""
    names = list(report.policies)
    ms = [report.policies[n] for n in names]
    classes = sorted({c for m in ms for c in m.latency_p99_s_by_class})
    rows = [
        ["utility", *(_fmt(m.utility, 1) for m in ms)],
        *(
            [["  of bound", *(_fmt(m.utility / report.bound_utility, 3) for m in ms)]]
            if report.bound_utility
            else []
        ),
        ["fee revenue", *(_fmt(m.fee_revenue) for m in ms)],
        ["deadline hit rate", *(_fmt(m.deadline_hit_rate, 3) for m in ms)],
        ["latency p50 (s)", *(_fmt(m.latency_p50_s) for m in ms)],
        ["latency p99 (s)", *(_fmt(m.latency_p99_s) for m in ms)],
        *(
            [f"  p99 {c} (s)", *(_fmt(m.latency_p99_s_by_class.get(c)) for m in ms)]
            for c in classes
        ),
        ["Jain fairness", *(_fmt(m.jain_fairness, 3) for m in ms)],
        ["spam admitted", *(_fmt(m.spam_admitted) for m in ms)],
        ["txs included", *(_fmt(m.included) for m in ms)],
        ["CPU ms / block", *(_fmt(m.cpu_ms_per_block, 3) for m in ms)],
    ]
    return ["metric", *names], rows
