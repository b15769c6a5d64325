"""The fee bench: every estimator through the same replayed workload, over seeds.

Each seed's trace is replayed once under the fee policy (``tape.py``);
each estimator is then fed the tape block by block. After block k its
estimate for (N, P) is what every tx arriving before block k + 1 pays
(fee = rate x the tx's size, rounded up), and that tx is judged against
the lowest sufficient rate read off the tape (a marginal tx: ``tape.py``):

- ``calibration``: the share of those txs that would have been included
  within N blocks, to be compared with P;
- ``overpay_mean`` / ``overpay_p50``: over the txs that would have made it,
  the fee paid minus the lowest fee that would have made it;
- ``fee_mean``: the mean fee paid;
- ``free``: the share of txs for which no fee was needed (a block of their
  window had room): no estimator's calibration can fall below it;
- ``answered``: the share of txs the estimator had an answer for (the
  bucket estimator has none until it has seen enough; those txs count in
  no other figure).

Each figure is given over all txs, and over the ``steady`` and ``burst``
blocks (``Tape.bursts``: the last 5 blocks' arrivals exceed their
capacity). Seeds reduce to a mean with a 95% Student-t interval
(``node.research.stats``). Results go to ``results.json`` and
``calibration.png``; nothing in them depends on the machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.fees.buckets import BucketEstimator
from node.fees.estimator import FeeEstimator, check_query
from node.fees.model import FeeModel
from node.fees.percentile import PercentileEstimator
from node.fees.quantile import QuantileEstimator
from node.fees.tape import Tape, record
from node.research.bench import Workload, git_commit, versions
from node.research.replay import BlockProduction
from node.research.stats import Estimate, mean_ci

ESTIMATORS = ("model", "model-raw", "buckets", "percentile")
PHASES = ("all", "steady", "burst")
METRICS = ("calibration", "free", "overpay_mean", "overpay_p50", "fee_mean", "answered", "txs")
RESULTS_SCHEMA = 1

Progress = Callable[[str, int, int], None]


def make_estimator(name: str, model: FeeModel | None = None) -> FeeEstimator:
    if name == "model":
        return QuantileEstimator(model)
    if name == "model-raw":
        return QuantileEstimator(model, recalibrate=False)
    if name == "buckets":
        return BucketEstimator()
    if name == "percentile":
        return PercentileEstimator()
    raise ConfigError(
        f"unknown fee estimator {name!r} (known: {', '.join(ESTIMATORS)})", code="unknown_estimator"
    )


def parse_estimators(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in ESTIMATORS:
            make_estimator(name)  # raises, naming the known ones
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"--estimators must name each estimator once: {text!r}")
    return names


@dataclass(frozen=True)
class Query:
    blocks: int
    confidence: float

    @property
    def label(self) -> str:
        return f"N={self.blocks} P={self.confidence:g}"


def parse_queries(blocks: str, confidence: str) -> list[Query]:
    """Every (blocks, confidence) pair of two comma-separated lists."""
    try:
        ns = [int(b) for b in blocks.split(",")]
        ps = [float(p) for p in confidence.split(",")]
    except ValueError:
        raise ConfigError(
            f"--blocks and --confidence take comma-separated numbers, got {blocks!r}, "
            f"{confidence!r}"
        ) from None
    return [Query(*check_query(n, p)) for n in ns for p in ps]


@dataclass
class Outcome:
    """One estimator on one tape for one query: a row per tx that was judged."""

    hit: np.ndarray  # bool
    overpay: np.ndarray  # fee paid - lowest fee that made it (valid where hit)
    fee: np.ndarray
    free: np.ndarray  # bool: no fee was needed (a block of the window had room)
    burst: np.ndarray  # bool: the tx arrived in a burst block
    unanswered: int = 0
    unanswered_burst: int = 0

    def metrics(self, phase: str) -> dict[str, float | None]:
        mask = np.ones(len(self.hit), dtype=bool)
        missing = self.unanswered
        if phase == "steady":
            mask = ~self.burst
            missing = self.unanswered - self.unanswered_burst
        elif phase == "burst":
            mask = self.burst
            missing = self.unanswered_burst
        n = int(mask.sum())
        hits = self.hit & mask
        paid_too_much = self.overpay[hits]
        return {
            "calibration": round(float(hits.sum()) / n, 6) if n else None,
            "free": round(float((self.free & mask).sum()) / n, 6) if n else None,
            "overpay_mean": round(float(paid_too_much.mean()), 4) if len(paid_too_much) else None,
            "overpay_p50": round(float(np.median(paid_too_much)), 4)
            if len(paid_too_much)
            else None,
            "fee_mean": round(float(self.fee[mask].mean()), 4) if n else None,
            "answered": round(n / (n + missing), 6) if n + missing else None,
            "txs": n,
        }


def judge(tape: Tape, estimator: FeeEstimator, queries: Sequence[Query]) -> dict[Query, Outcome]:
    """Feed ``estimator`` the tape and judge its estimates for each query."""
    lowest = {q: tape.lowest_rates(q.blocks) for q in queries}
    bursts = tape.bursts()
    parts: dict[Query, list[tuple[np.ndarray, ...]]] = {q: [] for q in queries}
    missing = {q: [0, 0] for q in queries}
    for k in range(1, len(tape)):
        tape.feed(estimator, k)
        sizes = tape.sizes[k]  # the txs arriving for block k + 1
        if len(sizes) == 0:
            continue
        for q in queries:
            need = lowest[q][k]
            if np.isnan(need):
                continue
            rate = estimator.estimate(q.blocks, q.confidence).fee_rate
            if np.isnan(rate):
                missing[q][0] += len(sizes)
                missing[q][1] += len(sizes) if bursts[k] else 0
                continue
            fee = np.ceil(rate * sizes - 1e-9) if rate > 0 else np.zeros(len(sizes))
            lowest_fee = np.floor(need * sizes) + 1 if need > 0 else np.zeros(len(sizes))
            flag = np.full(len(sizes), bool(bursts[k]))
            free = np.full(len(sizes), need <= 0)
            parts[q].append((fee >= lowest_fee, fee - lowest_fee, fee, free, flag))
    out = {}
    for q in queries:
        cols = [np.concatenate(c) if c else np.zeros(0) for c in zip(*parts[q], strict=True)]
        if not cols:
            cols = [np.zeros(0)] * 5
        hit, overpay, fee, free, burst = cols
        out[q] = Outcome(
            hit.astype(bool), overpay, fee, free.astype(bool), burst.astype(bool), *missing[q]
        )
    return out


@dataclass
class FeeBench:
    """A workload's fee bench over seeds: per seed, estimator, query, phase, metric."""

    workload: Workload
    seeds: list[int]
    estimators: list[str]
    queries: list[Query]
    production: BlockProduction
    duration_s: float | None
    model_sha256: str | None
    #: per_seed[i][estimator][query label][phase] -> metrics
    per_seed: list[dict[str, dict[str, dict[str, dict[str, float | None]]]]] = field(
        default_factory=list
    )

    def values(self, estimator: str, query: Query, phase: str, metric: str) -> list[float]:
        out = []
        for run in self.per_seed:
            v = run[estimator][query.label][phase][metric]
            if v is not None:
                out.append(float(v))
        return out

    def summary(self, estimator: str, query: Query, phase: str, metric: str) -> Estimate | None:
        values = self.values(estimator, query, phase, metric)
        return mean_ci(values) if values else None

    def to_json(self) -> dict[str, Any]:
        def est(e: Estimate | None) -> dict[str, float | int] | None:
            return None if e is None else e.to_json()

        return {
            "schema": RESULTS_SCHEMA,
            "workload": {**self.workload.to_json(), "duration_s": self.duration_s},
            "seeds": self.seeds,
            "production": asdict(self.production),
            "estimators": self.estimators,
            "queries": [asdict(q) for q in self.queries],
            "model_sha256": self.model_sha256,
            "versions": versions(),
            "git_commit": git_commit(),
            "per_seed": [
                {"seed": s, "estimators": r} for s, r in zip(self.seeds, self.per_seed, strict=True)
            ],
            "summary": {
                name: {
                    q.label: {
                        phase: {m: est(self.summary(name, q, phase, m)) for m in METRICS}
                        for phase in PHASES
                    }
                    for q in self.queries
                }
                for name in self.estimators
            },
        }


def run_fee_bench(
    workload: Workload,
    seeds: Sequence[int],
    *,
    estimators: Sequence[str] = ESTIMATORS,
    queries: Sequence[Query] = (Query(3, 0.9),),
    production: BlockProduction | None = None,
    duration_s: float | None = None,
    model: FeeModel | None = None,
    progress: Progress | None = None,
) -> FeeBench:
    """Replay ``workload`` on each seed and judge each estimator on the tape."""
    production = production or BlockProduction()
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"the fee bench needs distinct seeds, got {seeds}", code="bad_seeds")
    if not workload.generated and len(seeds) > 1:
        raise ConfigError(
            f"{workload.path}: a trace file is one fixed draw: several seeds need a .toml",
            code="bad_seeds",
        )
    bench = FeeBench(workload, seeds, list(estimators), list(queries), production, duration_s, None)
    for seed in seeds:
        trace = workload.trace(seed, duration_s)
        if len(trace) == 0:
            raise ConfigError("the workload has no transactions to bench", code="bad_trace")
        blocks = production.block_count(trace)

        def tick(k: int, label: str = f"seed {seed} replay", total: int = blocks) -> None:
            if progress is not None:
                progress(label, k, total)

        tape = record(trace, production, progress=tick)
        run: dict[str, dict[str, dict[str, dict[str, float | None]]]] = {}
        for i, name in enumerate(estimators):
            estimator = make_estimator(name, model)
            if estimator.model_sha256 is not None:
                bench.model_sha256 = estimator.model_sha256
            outcomes = judge(tape, estimator, queries)
            run[name] = {
                q.label: {phase: outcomes[q].metrics(phase) for phase in PHASES} for q in queries
            }
            if progress is not None:
                progress(f"seed {seed} estimators", i + 1, len(estimators))
        bench.per_seed.append(run)
    return bench


def write_fee_results(bench: FeeBench, out_dir: str | Path) -> list[Path]:
    """results.json and calibration.png in ``out_dir``."""
    from node.fees.plots import write_fee_plot

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(bench.to_json(), indent=2) + "\n")
    return [path, write_fee_plot(bench, out)]
