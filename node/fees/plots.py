"""The fee bench's figure, in the scheduling bench's style (``node.research.plots``).

``calibration.png``: per query, two panels side by side: the share of txs
that got in when paying each estimator's answer, per phase (bars: the mean
over seeds, error bars: the 95% CI), with the asked confidence as a line
and the share that needed no fee as a dotted one; and the mean overpayment
of the txs that got in, per phase.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from node.research.plots import DPI, bars_with_ci, pyplot

if TYPE_CHECKING:
    from node.fees.bench import FeeBench

CALIBRATION_PNG = "calibration.png"


def write_fee_plot(bench: FeeBench, out_dir: Path) -> Path:
    from node.fees.bench import PHASES

    plt = pyplot()
    rows = len(bench.queries)
    fig, axes = plt.subplots(rows, 2, figsize=(12, 4.2 * rows), squeeze=False)
    for (cal, over), q in zip(axes, bench.queries, strict=True):
        bars_with_ci(
            cal,
            list(PHASES),
            {n: [bench.summary(n, q, p, "calibration") for p in PHASES] for n in bench.estimators},
        )
        cal.axhline(q.confidence, color="black", linewidth=0.8)
        free = bench.summary(bench.estimators[0], q, "all", "free")
        if free is not None:
            cal.axhline(free.mean, color="grey", linewidth=0.8, linestyle=":")
        cal.set_ylim(0, 1.05)
        cal.set_ylabel("share included within N blocks")
        cal.set_title(f"{q.label}: calibration (line: P; dotted: no fee needed)")
        bars_with_ci(
            over,
            list(PHASES),
            {n: [bench.summary(n, q, p, "overpay_mean") for p in PHASES] for n in bench.estimators},
        )
        over.set_yscale("symlog", linthresh=1.0)
        over.set_ylabel("fee paid - lowest sufficient fee (symlog)")
        over.set_title(f"{q.label}: overpayment of the included txs (mean, 95% CI)")
    seeds = bench.seeds
    shown = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    fig.suptitle(f"{bench.workload.name}: fee estimators, {shown}")
    fig.tight_layout()
    path = out_dir / CALIBRATION_PNG
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
