"""The utility bound: what a clairvoyant block builder could earn at most.

``utility_bound`` takes a labelled workload (each tx's arrival, sender,
nonce, size, value and deadline) and the block production every policy
runs under (a block every ``interval_s`` from ``start_s``; each block at
most ``max_txs`` txs and ``max_bytes`` bytes) and returns an upper bound on
the utility any schedule can earn: the optimum of a linear relaxation of
the scheduling problem, solved by HiGHS (``scipy.optimize.linprog``). Any
policy, the oracles included, earns at most this on the same workload, so
every bench table can report a policy as a fraction of it.

The rules are those of the replay (``node/research/replay.py``) and of
its metric: block ``k`` (1..``blocks``) is made at ``start_s + k *
interval_s`` and may take any tx that arrived by then; a tx with a
deadline earns its ``value`` if its block time minus its arrival is at most
``deadline_s``, one without earns it in any block; a sender's txs go in
nonce order from its start nonce (a tx may share a block with the one
before it); at most one tx per sender and nonce.

Why it is a relaxation, and why it stays tight:

- Every tx ``i`` gets an "on time" share ``z_i`` in [0, 1] (earning
  ``value_i * z_i``) and, when it has a deadline and successors, a "late"
  share (earning nothing: a late tx may still unlock its successors).
- Time enters through *deadline classes*: the txs whose last on-time
  block is ``d`` share one class, and so do all deadline-free and late
  shares (their last block is the run's last). A class is a queue: its
  txs join at their first block, the block makes ``served`` txs and bytes
  of it leave, and it must be empty after ``d``. For txs with a common
  deadline and given release times this is exact (Hall's condition on an
  interval order); across classes only the per-block capacity couples them.
- Relaxed, so the bound is >= the true optimum: shares are fractional; a
  class's served count and served bytes leave independently (not tied to
  which txs leave); the nonce order binds the total shares of a sender's
  consecutive txs (tx n+1 at most as included as tx n) but not their
  block times; long deadlines are rounded up to a grid of at most
  ``DEADLINE_STEPS`` steps over their window (only ever later: a looser,
  still valid bound, and far fewer classes); pool rules (size caps,
  eviction, expiry) are ignored.

Nothing here reads the clock.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from node.errors import ConfigError
from node.scheduling.policy import BlockLimits

#: A long deadline window is rounded up to this many steps of its length
#: (windows of at most this many blocks are kept exact).
DEADLINE_STEPS = 16


class BoundInputError(ConfigError, ValueError):
    """The workload or block production given to the bound is unusable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="bad_bound_input")


@dataclass(frozen=True)
class BlockSchedule:
    """When blocks are made and what each may hold."""

    start_s: float
    interval_s: float
    blocks: int
    limits: BlockLimits

    def block_times(self) -> np.ndarray:
        """Block k's time at index k - 1, computed as the replay computes it."""
        return np.array([self.start_s + k * self.interval_s for k in range(1, self.blocks + 1)])


@dataclass(frozen=True)
class Bound:
    """The bound and the size of the program that gave it."""

    utility: float
    variables: int
    constraints: int
    txs: int  # txs that can ever be included (the rest cannot matter)


@dataclass(frozen=True)
class _Txs:
    """The txs that can matter, with their first and last on-time block (1-based)."""

    value: np.ndarray
    size: np.ndarray
    first: np.ndarray
    last: np.ndarray  # 0: no on-time block (only a late share)
    level: np.ndarray  # id of (sender, nonce): at most one tx of a level
    parent: np.ndarray  # the level before this one of the same sender, -1 at the start nonce


def utility_bound(
    *,
    arrival_s: np.ndarray,
    sender: Sequence[Hashable],
    nonce: np.ndarray,
    size: np.ndarray,
    value: np.ndarray,
    deadline_s: np.ndarray,
    schedule: BlockSchedule,
    start_nonces: Mapping[Any, int] | None = None,
) -> Bound:
    """An upper bound on the utility any block builder earns (see the module doc)."""
    txs = _prepare(arrival_s, sender, nonce, size, value, deadline_s, schedule, start_nonces)
    if len(txs.value) == 0 or not np.any(txs.value > 0):
        return Bound(utility=0.0, variables=0, constraints=0, txs=len(txs.value))
    return _solve(txs, schedule)


def _check(schedule: BlockSchedule, n: int, columns: Sequence[np.ndarray]) -> None:
    if not (math.isfinite(schedule.start_s) and math.isfinite(schedule.interval_s)):
        raise BoundInputError("block production: start and interval must be finite")
    if schedule.interval_s <= 0 or schedule.blocks < 0:
        raise BoundInputError(
            f"block production: interval must be > 0 and blocks >= 0, got "
            f"{schedule.interval_s} and {schedule.blocks}"
        )
    if schedule.limits.max_txs < 0 or schedule.limits.max_bytes < 0:
        raise BoundInputError("block production: limits must be >= 0")
    if any(len(c) != n for c in columns):
        raise BoundInputError("the workload's columns differ in length")


def _prepare(
    arrival_s: np.ndarray,
    sender: Sequence[Hashable],
    nonce: np.ndarray,
    size: np.ndarray,
    value: np.ndarray,
    deadline_s: np.ndarray,
    schedule: BlockSchedule,
    start_nonces: Mapping[Any, int] | None,
) -> _Txs:
    arrival = np.asarray(arrival_s, dtype=np.float64)
    n = len(arrival)
    nonce = np.asarray(nonce, dtype=np.int64)
    size = np.asarray(size, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    deadline = np.asarray(deadline_s, dtype=np.float64)
    _check(schedule, n, (nonce, size, value, deadline, np.asarray(sender, dtype=object)))
    if n and not (np.all(np.isfinite(arrival)) and np.all(np.isfinite(value))):
        raise BoundInputError("arrival times and values must be finite")
    if n and (np.any(value < 0) or np.any(size < 0) or np.any(deadline < 0)):
        raise BoundInputError("values, sizes and deadlines must be >= 0")

    times = schedule.block_times()
    first = np.searchsorted(times, arrival, side="left") + 1  # first block at or after arrival
    last = _last_on_time(times, arrival, deadline)
    last = np.where(last >= first, last, 0)

    # each sender's reachable run of nonces from its start nonce
    starts = start_nonces or {}
    keep = np.zeros(n, dtype=bool)
    level = np.full(n, -1, dtype=np.int64)
    by_sender: dict[Hashable, list[int]] = {}
    for i, s in enumerate(sender):
        by_sender.setdefault(s, []).append(i)
    parent_of_level: list[int] = []
    worth_of_level: list[float] = []
    for s, rows in by_sender.items():
        base = int(starts.get(s, 0))
        present: dict[int, list[int]] = {}
        for i in rows:
            if first[i] <= schedule.blocks:
                present.setdefault(int(nonce[i]), []).append(i)
        chain: list[int] = []
        m = base
        while m in present:
            lid = len(parent_of_level)
            parent_of_level.append(chain[-1] if chain else -1)
            worth_of_level.append(float(np.max(value[present[m]] * (last[present[m]] > 0))))
            chain.append(lid)
            for i in present[m]:
                level[i] = lid
            m += 1
        # a run's tail worth nothing unlocks nothing: drop it
        while chain and worth_of_level[chain[-1]] <= 0:
            chain.pop()
        alive = set(chain)
        for i in rows:
            if level[i] in alive:
                keep[i] = True
    kept = np.flatnonzero(keep)
    # renumber the kept levels densely
    kept_levels, dense = np.unique(level[kept], return_inverse=True)
    remap = {int(old): new for new, old in enumerate(kept_levels.tolist())}
    parent = np.array(
        [remap.get(parent_of_level[int(old)], -1) for old in kept_levels.tolist()],
        dtype=np.int64,
    )
    return _Txs(
        value=value[kept],
        size=size[kept],
        first=first[kept].astype(np.int64),
        last=last[kept].astype(np.int64),
        level=dense.astype(np.int64),
        parent=parent,
    )


def _last_on_time(times: np.ndarray, arrival: np.ndarray, deadline: np.ndarray) -> np.ndarray:
    """Each tx's last on-time block (1-based; 0: none), by the metric's own
    test ``block time - arrival <= deadline``; all blocks without a deadline."""
    blocks = len(times)
    has_deadline = ~np.isnan(deadline)
    if blocks == 0:
        return np.zeros(len(arrival), dtype=np.int64)
    slack = np.where(has_deadline, deadline, 0.0)
    last = np.searchsorted(times, arrival + slack, side="right")
    # a + d may round differently from t - a <= d: settle the boundary block
    nxt = np.minimum(last, blocks - 1)
    last = np.where((last < blocks) & (times[nxt] - arrival <= slack), last + 1, last)
    cur = np.maximum(last - 1, 0)
    last = np.where((last > 0) & ~(times[cur] - arrival <= slack), last - 1, last)
    return np.where(has_deadline, last, blocks).astype(np.int64)


def _rounded_last(first: np.ndarray, last: np.ndarray, blocks: int) -> np.ndarray:
    """Round the last block of long on-time windows up to a power-of-two grid
    (about ``DEADLINE_STEPS`` steps per window): fewer deadline classes, and
    only ever later, so the bound stays valid."""
    window = last - first + 1
    ratio = np.maximum(window // DEADLINE_STEPS, 1)
    step = 2 ** np.floor(np.log2(ratio)).astype(np.int64)
    rounded = -(-last // step) * step
    return np.minimum(rounded, blocks)


def _solve(txs: _Txs, schedule: BlockSchedule) -> Bound:
    blocks = schedule.blocks
    n = len(txs.value)
    has_on_time = txs.last > 0
    # a late share for txs with a successor whose deadline may pass (or cannot be met)
    has_child = np.zeros(int(txs.level.max()) + 1, dtype=bool)
    has_child[txs.parent[txs.parent >= 0]] = True
    needs_late = has_child[txs.level] & (txs.last < blocks)
    # options: (tx, class last block, earns value?)
    on_rows = np.flatnonzero(has_on_time)
    late_rows = np.flatnonzero(needs_late)
    opt_tx = np.concatenate([on_rows, late_rows])
    opt_last = np.concatenate(
        [
            _rounded_last(txs.first[on_rows], txs.last[on_rows], blocks),
            np.full(len(late_rows), blocks),
        ]
    )
    opt_value = np.concatenate([txs.value[on_rows], np.zeros(len(late_rows))])
    opt_first = txs.first[opt_tx]
    opt_size = txs.size[opt_tx]
    n_opt = len(opt_tx)

    # classes by last block; each spans from its earliest member's first block
    classes, opt_class = np.unique(opt_last, return_inverse=True)
    lo = np.full(len(classes), blocks + 1, dtype=np.int64)
    np.minimum.at(lo, opt_class, opt_first)
    hi = classes.astype(np.int64)
    span = hi - lo + 1  # blocks in which a class's queue exists
    # per class and block of its span: served count S, served bytes W,
    # queued count Q and queued bytes R after the block (none after the last)
    offset = np.concatenate([[0], np.cumsum(span)])
    cells = int(offset[-1])
    cell_class = np.repeat(np.arange(len(classes)), span)
    cell_block = lo[cell_class] + (np.arange(cells) - offset[cell_class])
    is_last = cell_block == hi[cell_class]
    q_cells = np.flatnonzero(~is_last)
    n_q = len(q_cells)
    q_index = np.full(cells, -1, dtype=np.int64)
    q_index[q_cells] = np.arange(n_q)
    # variable layout: options | S | W | Q | R
    v_s = n_opt
    v_w = v_s + cells
    v_q = v_w + cells
    v_r = v_q + n_q
    n_vars = v_r + n_q

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | float) -> None:
        rows.append(np.asarray(r, dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(r)).copy())

    # flow rows, one per cell, count (rows 0..cells-1) and bytes (cells..2*cells-1):
    # queued_before + joining - served - queued_after = 0
    opt_cell = offset[opt_class] + (opt_first - lo[opt_class])
    all_cells = np.arange(cells)
    for base, served, queued, weight in (
        (0, v_s, v_q, np.ones(n_opt)),
        (cells, v_w, v_r, opt_size),
    ):
        add(base + opt_cell, np.arange(n_opt), weight)
        add(base + all_cells, served + all_cells, -1.0)
        add(base + q_cells, queued + q_index[q_cells], -1.0)
        nxt = q_cells + 1  # the same class's next block
        add(base + nxt, queued + q_index[q_cells], 1.0)
    n_eq = 2 * cells
    a_eq = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_eq, n_vars)
    )
    b_eq = np.zeros(n_eq)

    rows, cols, vals = [], [], []
    # capacity: per block, served count and served bytes over all classes
    add(cell_block - 1, v_s + all_cells, 1.0)
    add(blocks + cell_block - 1, v_w + all_cells, 1.0)
    ub = [
        np.full(blocks, float(schedule.limits.max_txs)),
        np.full(blocks, float(schedule.limits.max_bytes)),
    ]
    next_row = 2 * blocks
    # nonce order: a level's total share is at most its parent's; at most 1 per level
    n_levels = len(txs.parent)
    opt_level = txs.level[opt_tx]
    child = np.flatnonzero(txs.parent >= 0)
    child_row = np.full(n_levels, -1, dtype=np.int64)
    child_row[child] = next_row + np.arange(len(child))
    sel = child_row[opt_level] >= 0
    add(child_row[opt_level[sel]], np.flatnonzero(sel), 1.0)
    # and the parent's options appear with -1 in the row of its one child
    child_of = np.full(n_levels, -1, dtype=np.int64)
    child_of[txs.parent[child]] = child
    sel = child_of[opt_level] >= 0
    add(child_row[child_of[opt_level[sel]]], np.flatnonzero(sel), -1.0)
    ub.append(np.zeros(len(child)))
    next_row += len(child)
    # levels with more than one option (two txs of one nonce, or on-time and late)
    per_level = np.bincount(opt_level, minlength=n_levels)
    multi = np.flatnonzero(per_level > 1)
    multi_row = np.full(n_levels, -1, dtype=np.int64)
    multi_row[multi] = next_row + np.arange(len(multi))
    sel = multi_row[opt_level] >= 0
    add(multi_row[opt_level[sel]], np.flatnonzero(sel), 1.0)
    ub.append(np.ones(len(multi)))
    next_row += len(multi)
    a_ub = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(next_row, n_vars),
    )
    b_ub = np.concatenate(ub)

    cost = np.zeros(n_vars)
    cost[:n_opt] = -opt_value
    upper = np.full(n_vars, np.inf)
    upper[:n_opt] = 1.0
    result = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=np.column_stack([np.zeros(n_vars), upper]),
        method="highs",
    )
    if result.status != 0:
        raise BoundInputError(f"the bound's linear program did not solve: {result.message}")
    return Bound(
        utility=float(-result.fun),
        variables=n_vars,
        constraints=n_eq + next_row,
        txs=n,
    )
