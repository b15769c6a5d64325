"""The scheduling gates (issue 12): on seeds no model saw, the learned policy is
at least the best of fee, fair-fee and package on every shipped workload and
on the spam cold start, with the shipped model and with the default recipe
retrained on five other seeds. The table is printed (``pytest -s`` or -rA)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.research import gates
from node.research.default_model import SEED as RECIPE_SEED
from node.research.default_model import recipe_workloads
from node.research.trace import Trace
from node.research.train import TrainConfig, train
from node.scheduling.learned import DEFAULT_MODEL_PATH

SHIPPED = "shipped"
# training five models and replaying 45 traces under nine policies takes
# minutes: more than the suite's per-test default on a busy 2-core machine
pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> gates.GateReport:
    models = {SHIPPED: DEFAULT_MODEL_PATH}
    models |= gates.train_recipe_models(tmp_path_factory.mktemp("recipe"))
    result = gates.evaluate(models, with_bound=True)
    print("\n" + result.table())
    return result


def test_gate_seeds_are_never_training_seeds() -> None:
    assert RECIPE_SEED not in gates.GATE_SEEDS
    assert not set(gates.TRAINING_SEEDS) & set(gates.GATE_SEEDS)
    names = [c.name for c in gates.gate_cases()]
    assert len(names) == len(recipe_workloads()) + len(gates.COLD_START_WORKLOADS)
    assert "spam (cold start)" in names


def test_the_shipped_model_passes_every_gate(report: gates.GateReport) -> None:
    failed = [case for case, model in report.failures() if model == SHIPPED]
    assert not failed, f"the shipped model loses on {failed}\n{report.table()}"


def test_the_recipe_passes_with_every_training_seed(report: gates.GateReport) -> None:
    failed = [(case, model) for case, model in report.failures() if model != SHIPPED]
    assert not failed, f"the recipe loses on {failed}\n{report.table()}"
    assert len(report.models) == 1 + len(gates.TRAINING_SEEDS)


def test_no_policy_beats_the_bound(report: gates.GateReport) -> None:
    for case in report.cases:
        assert case.bound is not None
        firsts = [v[0] for v in (*case.baselines.values(), *case.models.values())]
        assert max(firsts) <= case.bound * (1 + 1e-9), case.case


def test_the_cold_start_starts_from_the_middle_with_executable_nonces() -> None:
    (cold,) = [c for c in gates.gate_cases() if c.cold_start]
    full, _ = gates.Case(cold.workload).trace(1)
    tail, start = cold.trace(1)
    assert len(tail) == len(full) - round(len(full) / 2)
    assert float(tail.arrival_s[0]) >= float(full.arrival_s[len(full) // 2 - 1])
    # every sender of the tail starts at its first nonce there: no artificial gaps
    firsts: dict[str, int] = {}
    for sender, nonce in zip(tail.sender, tail.nonce, strict=True):
        firsts.setdefault(sender, int(nonce))
    assert all(start.get(s, 0) == n for s, n in firsts.items())


def test_a_weak_model_fails_the_gate(tmp_path: Path, tiny_trace: Trace) -> None:
    """The gate can fail: a model trained on a few seconds of one small
    workload loses to the best baseline on the spam cold start."""
    weak = tmp_path / "weak.json"
    config = TrainConfig(seed=1, trees=5, max_depth=2, cold_starts=False)
    weak.write_bytes(train(tiny_trace, config).model_bytes)
    (cold,) = [c for c in gates.gate_cases() if c.cold_start]
    result = gates.evaluate({"weak": weak}, seeds=(1, 2), cases=[cold])
    assert result.failures() == [(cold.name, "weak")], result.table()
