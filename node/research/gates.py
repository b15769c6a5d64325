"""The scheduling gates: the learned policy against the strongest baseline,
on seeds that no model saw.

A *case* is a shipped workload (``configs/workloads/*.toml``), generated
for at most ``GATE_DURATION_S`` seconds, or its cold start: the second half
of the trace replayed with an empty history, as a node restarted
mid-flood meets it (``COLD_START_WORKLOADS``). Every case is replayed on
``GATE_SEEDS`` under each baseline (``BASELINES``) and under the learned
policy with each model given; a model passes a case when its mean utility
over the seeds is at least the best baseline's mean, up to a tie of
``TIE`` of it (where no policy can do better, as on an uncongested
workload, every policy includes nearly every tx and the means differ by
a few units of value). The recipe seeds
(``default_model.SEED`` and ``TRAINING_SEEDS``) are disjoint from the gate
seeds, so the gates measure generalisation to unseen traces.

``python -m node.research.gates [--training-seeds]`` prints the table;
``tests/scheduling/test_gates.py`` asserts it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from node.research.bench import measure
from node.research.bounds import bound_of_trace
from node.research.default_model import SEED as RECIPE_SEED
from node.research.default_model import recipe_workloads, train_recipe
from node.research.replay import BlockProduction, Replayer
from node.research.stats import Estimate, mean_ci, paired_ratio_ci
from node.research.trace import Trace
from node.research.workloads import generate, load_workload
from node.scheduling.learned import DEFAULT_MODEL_PATH, LearnedPolicy
from node.scheduling.policy import Policy, make_policy

GATE_SEEDS = (1, 2, 3, 4, 5)
TRAINING_SEEDS = (101, 102, 103, 104, 105)
BASELINES = ("fee", "fair-fee", "package")
GATE_DURATION_S = 200.0
COLD_START_WORKLOADS = ("spam",)
PRODUCTION = BlockProduction()
#: Means within this share of each other are a tie.
TIE = 0.001


@dataclass(frozen=True)
class Case:
    workload: Path
    cold_start: bool = False

    @property
    def name(self) -> str:
        return self.workload.stem + (" (cold start)" if self.cold_start else "")

    def trace(self, seed: int) -> tuple[Trace, dict[str, int]]:
        """The case's trace for ``seed`` and the nonces its senders start at."""
        spec = load_workload(self.workload)
        trace = generate(spec, seed, duration_s=min(spec.duration_s, GATE_DURATION_S))
        trace = trace.sorted_by_arrival()
        return trace.second_half() if self.cold_start else (trace, {})


def gate_cases() -> list[Case]:
    workloads = recipe_workloads()
    cold = [Case(w, cold_start=True) for w in workloads if w.stem in COLD_START_WORKLOADS]
    return [Case(w) for w in workloads] + cold


def _cell(
    case: Case, seed: int, models: Sequence[Path], with_bound: bool
) -> tuple[list[float], list[float], float | None]:
    """(utility of each baseline, of the learned policy with each model, the LP bound)."""
    trace, start = case.trace(seed)
    replayer = Replayer(trace, start)

    def utility(policy: Policy) -> float:
        return measure(trace, replayer.run(policy, PRODUCTION)).utility

    baselines = [utility(make_policy(name)) for name in BASELINES]
    learned = [utility(LearnedPolicy(model_path=m, model_hash=None)) for m in models]
    bound = bound_of_trace(trace, PRODUCTION, start).utility if with_bound else None
    return baselines, learned, bound


@dataclass
class CaseResult:
    case: str
    baselines: dict[str, list[float]]  # per seed
    models: dict[str, list[float]]  # per seed
    bound: float | None = None  # the LP bound on the first seed's trace

    @property
    def best_baseline(self) -> str:
        return max(BASELINES, key=lambda b: float(np.mean(self.baselines[b])))

    def estimate(self, name: str) -> Estimate:
        return mean_ci(self.models.get(name) or self.baselines[name])

    def ratio(self, model: str) -> Estimate | None:
        """Paired ratio of the model to the best baseline, per seed."""
        return paired_ratio_ci(self.models[model], self.baselines[self.best_baseline])

    def passes(self, model: str) -> bool:
        best = float(np.mean(self.baselines[self.best_baseline]))
        return float(np.mean(self.models[model])) >= best * (1.0 - TIE)


@dataclass
class GateReport:
    seeds: tuple[int, ...]
    models: list[str]
    cases: list[CaseResult] = field(default_factory=list)

    def failures(self) -> list[tuple[str, str]]:
        return [(c.case, m) for c in self.cases for m in self.models if not c.passes(m)]

    def table(self) -> str:
        lines = [
            f"gates over seeds {', '.join(map(str, self.seeds))}: mean utility [95% CI]; "
            "learned / best baseline, paired over seeds [95% CI]"
        ]
        for c in self.cases:
            best = c.best_baseline
            cells = []
            for b in BASELINES:
                e = c.estimate(b)
                mark = "*" if b == best else " "
                cells.append(f"{b}{mark} {e.mean:,.0f} [{e.lo:,.0f}, {e.hi:,.0f}]")
            lines.append(f"{c.case}: " + "  ".join(cells))
            if c.bound:
                first = {m: v[0] for m, v in c.models.items()}
                shares = ", ".join(f"{m} {u / c.bound:.3f}" for m, u in first.items())
                lines.append(f"    of the LP bound {c.bound:,.0f} (seed {self.seeds[0]}): {shares}")
            for m in self.models:
                e, r = c.estimate(m), c.ratio(m)
                ratio = "-" if r is None else f"{r.mean:.3f} [{r.lo:.3f}, {r.hi:.3f}]"
                verdict = "pass" if c.passes(m) else "FAIL"
                lines.append(
                    f"    {m}: {e.mean:,.0f} [{e.lo:,.0f}, {e.hi:,.0f}]  x best {ratio}  {verdict}"
                )
        return "\n".join(lines)


def evaluate(
    models: dict[str, Path],
    *,
    seeds: Sequence[int] = GATE_SEEDS,
    cases: Sequence[Case] | None = None,
    processes: int = 2,
    with_bound: bool = False,
    progress: Callable[[str], None] | None = None,
) -> GateReport:
    """Replay every case and seed under the baselines and each named model;
    ``with_bound`` also solves the LP bound of each case's first seed."""
    cases = list(cases if cases is not None else gate_cases())
    names, paths = list(models), list(models.values())
    report = GateReport(seeds=tuple(seeds), models=names)
    jobs = [(case, seed) for case in cases for seed in seeds]
    with _pool(processes) as pool:
        futures = [
            pool.submit(_cell, case, seed, paths, with_bound and seed == seeds[0])
            for case, seed in jobs
        ]
        results = []
        for k, ((case, seed), future) in enumerate(zip(jobs, futures, strict=True), 1):
            results.append(future.result())
            if progress is not None:
                progress(f"[{k}/{len(jobs)}] {case.name} seed {seed}")
    for i, case in enumerate(cases):
        mine = results[i * len(seeds) : (i + 1) * len(seeds)]
        report.cases.append(
            CaseResult(
                case=case.name,
                baselines={b: [r[0][j] for r in mine] for j, b in enumerate(BASELINES)},
                models={m: [r[1][j] for r in mine] for j, m in enumerate(names)},
                bound=mine[0][2],
            )
        )
    return report


def _pool(processes: int) -> ProcessPoolExecutor:
    # spawned, not forked: a fork of a process whose OpenMP runtime already ran
    # (scikit-learn's histogram gradient boosting) can crash in the child
    return ProcessPoolExecutor(
        max_workers=processes, mp_context=multiprocessing.get_context("spawn")
    )


def train_recipe_models(
    out_dir: Path, seeds: Sequence[int] = TRAINING_SEEDS, processes: int = 2
) -> dict[str, Path]:
    """The default recipe trained with each seed: {"seed S": model path}."""
    paths = {f"recipe seed {s}": out_dir / f"recipe-{s}.json" for s in seeds}
    with _pool(processes) as pool:
        for future in [
            pool.submit(train_recipe, s, p) for s, p in zip(seeds, paths.values(), strict=True)
        ]:
            future.result()
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--training-seeds",
        action="store_true",
        help=f"also train the recipe with seeds {TRAINING_SEEDS} and gate each model",
    )
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--bound", action="store_true", help="also solve the LP bound of each case's first seed"
    )
    args = parser.parse_args(argv)
    models = {f"shipped (recipe seed {RECIPE_SEED})": DEFAULT_MODEL_PATH}
    with tempfile.TemporaryDirectory() as tmp:
        if args.training_seeds:
            models |= train_recipe_models(Path(tmp), processes=args.processes)
        report = evaluate(
            models,
            processes=args.processes,
            with_bound=args.bound,
            progress=lambda s: print(s, file=sys.stderr),
        )
    print(report.table())
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
