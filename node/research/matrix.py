"""The generalisation matrix: a model trained on each workload, benched on each.

Row ``A``, column ``B``: the default recipe's ``TrainConfig`` (the one
``ordinet sched train`` and ``default_model.py`` use) fitted on workload
A's training seeds, then the learned policy with that model replayed on B's
test seeds, divided by the best of fee, fair-fee and package on B (the one
with the best mean utility), paired over the seeds: a mean with its 95% CI.
Training and test seeds are disjoint; each replay starts with an empty
feature history. ``write_matrix`` writes matrix.json, matrix.md (the table
for docs/SCHEDULING.md) and matrix.png (a heatmap); the models go to
``models/`` beside them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.research.bench import (
    LEARNED,
    RESULTS_SCHEMA,
    Log,
    ModelInfo,
    Workload,
    est_json,
    fmt_interval,
    git_commit,
    measure,
    versions,
)
from node.research.replay import BlockProduction, Replayer
from node.research.stats import Estimate, paired_ratio_ci
from node.research.train import TrainConfig, train
from node.scheduling.learned import LearnedPolicy
from node.scheduling.model import SchedulingModel, parse_model
from node.scheduling.policy import make_policy

#: A cell divides the learned policy by the best of these (by mean utility).
MATRIX_BASELINES = ("fee", "fair-fee", "package")


@dataclass(frozen=True)
class MatrixCell:
    """The learned policy trained on one workload, benched on another."""

    best_baseline: str  # the baseline with the best mean utility over the seeds
    learned: list[float]  # utility per test seed
    baseline: list[float]  # the best baseline's utility per test seed
    ratio: Estimate | None  # learned / best baseline, paired over the seeds

    def to_json(self) -> dict[str, Any]:
        return {
            "best_baseline": self.best_baseline,
            "learned": self.learned,
            "baseline": self.baseline,
            "ratio": est_json(self.ratio),
        }


@dataclass
class MatrixReport:
    """Rows: the workload a model was trained on; columns: the one it was benched on."""

    workloads: list[Workload]
    train_seeds: list[int]
    test_seeds: list[int]
    cold_start: bool
    production: BlockProduction
    duration_s: float | None
    models: dict[str, ModelInfo] = field(default_factory=dict)
    cells: dict[tuple[str, str], MatrixCell] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [w.path.stem for w in self.workloads]

    def markdown(self) -> str:
        """The matrix as a markdown table (paste it into docs/SCHEDULING.md)."""
        names = self.names
        seeds = ", ".join(map(str, self.test_seeds))
        lines = [
            f"learned / best of {', '.join(MATRIX_BASELINES)}: mean [95% CI] over test seeds "
            f"{seeds}{' (cold start)' if self.cold_start else ''}; rows: trained on (seeds "
            f"{', '.join(map(str, self.train_seeds))}), columns: benched on",
            "",
            "| trained on \\ benched on | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names),
        ]
        for row in names:
            cells = [fmt_interval(self.cells[(row, col)].ratio) for col in names]
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RESULTS_SCHEMA,
            "workloads": [w.to_json() for w in self.workloads],
            "train_seeds": self.train_seeds,
            "test_seeds": self.test_seeds,
            "cold_start": self.cold_start,
            "duration_s": self.duration_s,
            "production": asdict(self.production),
            "baselines": list(MATRIX_BASELINES),
            "models": {n: asdict(m) for n, m in self.models.items()},
            "cells": {
                row: {col: self.cells[(row, col)].to_json() for col in self.names}
                for row in self.names
            },
            "versions": versions(),
            "git_commit": git_commit(),
        }


def run_matrix(
    workloads: Sequence[Workload],
    production: BlockProduction,
    *,
    train_seeds: Sequence[int],
    test_seeds: Sequence[int],
    models_dir: Path,
    duration_s: float | None = None,
    cold_start: bool = False,
    train_config: Callable[[int], TrainConfig] | None = None,
    log: Log | None = None,
) -> MatrixReport:
    """Train a model on each workload's ``train_seeds`` traces (the default
    recipe's ``TrainConfig``, or ``train_config(seed)``), write it to
    ``models_dir``, and bench it on every workload's ``test_seeds``."""
    if not workloads:
        raise ConfigError("the matrix needs at least one workload", code="bad_workload")
    stems = [w.path.stem for w in workloads]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"the matrix names a workload twice: {stems}", code="bad_workload")
    for w in workloads:
        if not w.generated:
            raise ConfigError(
                f"{w.path}: the matrix trains and benches on fresh draws: give a workload .toml",
                code="bad_workload",
            )
    if not train_seeds or not test_seeds:
        raise ConfigError("the matrix needs training and test seeds", code="bad_seeds")
    if set(train_seeds) & set(test_seeds):
        raise ConfigError(
            f"training seeds {list(train_seeds)} overlap test seeds {list(test_seeds)}",
            code="bad_seeds",
        )
    say = log or (lambda _: None)
    report = MatrixReport(
        workloads=list(workloads),
        train_seeds=list(train_seeds),
        test_seeds=list(test_seeds),
        cold_start=cold_start,
        production=production,
        duration_s=duration_s,
    )
    models_dir.mkdir(parents=True, exist_ok=True)
    models: dict[str, SchedulingModel] = {}
    for w in workloads:
        config = (
            train_config(train_seeds[0])
            if train_config is not None
            else TrainConfig(seed=train_seeds[0], production=production)
        )
        traces = [w.trace(s, duration_s) for s in train_seeds]
        seeds = ", ".join(map(str, train_seeds))
        trained = train(traces, config, source=f"{w.path.name} (seeds {seeds})")
        path = models_dir / f"{w.path.stem}.json"
        path.write_bytes(trained.model_bytes)
        model = parse_model(trained.model_bytes, str(path), trained.sha256)
        report.models[w.path.stem] = ModelInfo(trained.sha256.hex(), model.training)
        models[w.path.stem] = model
        say(f"trained on {w.path.stem}: {path} sha256 {trained.sha256.hex()}")
    # utility[test workload][policy or "learned:TRAIN"] per test seed
    utility: dict[str, dict[str, list[float]]] = {}
    for w in workloads:
        got: dict[str, list[float]] = {}
        for seed in test_seeds:
            trace = w.trace(seed, duration_s)
            start: dict[str, int] = {}
            if cold_start:
                trace, start = trace.second_half()
            trace = trace.sorted_by_arrival()
            replayer = Replayer(trace, start)
            for name in MATRIX_BASELINES:
                result = replayer.run(make_policy(name), production)
                got.setdefault(name, []).append(measure(trace, result).utility)
            for stem in stems:
                # a fresh policy per replay: the feature history starts empty
                policy = LearnedPolicy(model=models[stem])
                result = replayer.run(policy, production)
                got.setdefault(f"{LEARNED}:{stem}", []).append(measure(trace, result).utility)
            say(f"benched {w.path.stem} seed {seed}")
        utility[w.path.stem] = got
    for col in stems:
        got = utility[col]
        best = max(MATRIX_BASELINES, key=lambda b: float(np.mean(got[b])))
        for row in stems:
            mine = got[f"{LEARNED}:{row}"]
            report.cells[(row, col)] = MatrixCell(
                best_baseline=best,
                learned=mine,
                baseline=got[best],
                ratio=paired_ratio_ci(mine, got[best]),
            )
    return report


def write_matrix(report: MatrixReport, out_dir: str | Path) -> list[Path]:
    """matrix.json, matrix.md and matrix.png in ``out_dir`` (the models are in models/)."""
    from node.research import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "matrix.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    md_path = out / "matrix.md"
    md_path.write_text(report.markdown())
    png_path = out / "matrix.png"
    plots.matrix_heatmap(report, png_path)
    return [json_path, md_path, png_path]
