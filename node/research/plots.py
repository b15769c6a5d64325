"""The bench's figures, drawn with matplotlib's Agg backend (imported when drawn).

From a ``bench.BenchSeries``: per-class utility and per-class deadline hit
rate (bars: the mean over seeds, error bars: the 95% CI), the per-class
inclusion-latency CDF on a log axis (latencies pooled over the seeds), and
utility as a fraction of the LP bound per policy (with its CI). Each is its
own PNG; ``summary.png`` holds them all. From a ``bench.MatrixReport``:
the generalisation matrix as a heatmap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from node.research.stats import Estimate

if TYPE_CHECKING:
    from node.research.bench import BenchSeries
    from node.research.matrix import MatrixReport

#: Latencies below this are drawn at it (a log axis has no 0).
MIN_LATENCY_S = 1e-3
DPI = 100

CLASS_UTILITY_PNG = "class_utility.png"
CLASS_HIT_RATE_PNG = "class_deadline_hit_rate.png"
CLASS_LATENCY_PNG = "class_latency_cdf.png"
BOUND_FRACTION_PNG = "bound_fraction.png"
SUMMARY_PNG = "summary.png"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bars_with_ci(ax: Any, groups: list[str], series: dict[str, list[Estimate | None]]) -> None:
    """Grouped bars: one group per entry of ``groups``, one bar per key of ``series``."""
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for k, (name, estimates) in enumerate(series.items()):
        means = [e.mean if e is not None else np.nan for e in estimates]
        err = np.array(
            [[e.mean - e.lo, e.hi - e.mean] if e is not None else [0.0, 0.0] for e in estimates]
        ).T
        ax.bar(
            x + (k - (len(series) - 1) / 2) * width, means, width, yerr=err, capsize=3, label=name
        )
    ax.set_xticks(x, groups)
    ax.grid(axis="y", alpha=0.3)
    if series:
        ax.legend(fontsize="small")


def _class_metric(ax: Any, series: BenchSeries, metric: str, label: str) -> None:
    per_class = series.per_class()
    classes = series.classes
    bars_with_ci(
        ax, classes, {n: [per_class[n][c][metric] for c in classes] for n in series.replayed}
    )
    ax.set_ylabel(label)
    ax.set_title(f"{label} per class (mean, 95% CI)")


def _latency_cdf(ax: Any, series: BenchSeries, cls: str) -> None:
    drawn = False
    for name in series.replayed:
        lat = np.maximum(series.pooled_latencies(name, cls), MIN_LATENCY_S)
        if len(lat):
            ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", label=name)
            drawn = True
    ax.set_xscale("log")
    ax.set_xlabel("inclusion latency (s, log)")
    ax.set_ylabel("share of included txs")
    ax.set_title(f"latency CDF: {cls} (pooled over seeds)")
    ax.grid(alpha=0.3, which="both")
    if drawn:
        ax.legend(fontsize="small")


def _bound_fraction(ax: Any, series: BenchSeries) -> None:
    summary = series.summary()
    names = series.replayed
    bars_with_ci(ax, ["utility / bound"], {n: [summary[n].get("utility_of_bound")] for n in names})
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylabel("fraction of the LP bound")
    ax.set_title("utility as a fraction of the bound (mean, 95% CI)")


def _title(series: BenchSeries) -> str:
    seeds = series.seeds
    shown = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    cold = ", cold start" if series.cold_start else ""
    return f"{series.workload.name}: {shown} ({len(seeds)}){cold}"


def write_plots(series: BenchSeries, out_dir: Path) -> list[Path]:
    """Each figure as its own PNG, then all of them in ``summary.png``."""
    plt = pyplot()
    classes = series.classes
    with_bound = series.bounds is not None
    paths = []

    def save(fig: Any, name: str) -> None:
        fig.suptitle(_title(series))
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=DPI)
        plt.close(fig)
        paths.append(out_dir / name)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    _class_metric(ax, series, "utility", "utility")
    save(fig, CLASS_UTILITY_PNG)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    _class_metric(ax, series, "deadline_hit_rate", "deadline hit rate")
    save(fig, CLASS_HIT_RATE_PNG)
    if classes:  # none when only the bound ran
        fig, axes = plt.subplots(1, len(classes), figsize=(5 * len(classes), 4.2), squeeze=False)
        for ax, c in zip(axes[0], classes, strict=True):
            _latency_cdf(ax, series, c)
        save(fig, CLASS_LATENCY_PNG)
    if with_bound:
        fig, ax = plt.subplots(figsize=(6, 4.2))
        _bound_fraction(ax, series)
        save(fig, BOUND_FRACTION_PNG)

    top = 3 if with_bound else 2
    cols = max(top, len(classes))
    fig = plt.figure(figsize=(5 * cols, 8.6))
    grid = fig.add_gridspec(2, cols)
    _class_metric(fig.add_subplot(grid[0, 0]), series, "utility", "utility")
    _class_metric(fig.add_subplot(grid[0, 1]), series, "deadline_hit_rate", "deadline hit rate")
    if with_bound:
        _bound_fraction(fig.add_subplot(grid[0, 2]), series)
    for k, c in enumerate(classes):
        _latency_cdf(fig.add_subplot(grid[1, k]), series, c)
    save(fig, SUMMARY_PNG)
    return paths


def matrix_heatmap(report: MatrixReport, path: Path) -> None:
    """Learned / best baseline per (trained on, benched on) cell, annotated with the CI."""
    plt = pyplot()
    names = report.names
    ratio = np.array(
        [
            [np.nan if (e := report.cells[(r, c)].ratio) is None else e.mean for c in names]
            for r in names
        ]
    )
    spread = np.nanmax(np.abs(ratio - 1.0)) if np.isfinite(ratio).any() else 0.5
    spread = max(float(spread), 0.05)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 3, 1.2 * len(names) + 2))
    image = ax.imshow(ratio, cmap="RdBu", vmin=1 - spread, vmax=1 + spread)
    for i, r in enumerate(names):
        for j, c in enumerate(names):
            e = report.cells[(r, c)].ratio
            text = "-" if e is None else f"{e.mean:.2f}\n[{e.lo:.2f}, {e.hi:.2f}]"
            dark = e is not None and abs(e.mean - 1.0) > 0.6 * spread
            color = "white" if dark else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize="small", color=color)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("benched on")
    ax.set_ylabel("trained on")
    ax.set_title("learned / best baseline (mean, 95% CI)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
