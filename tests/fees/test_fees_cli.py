"""``ordinet fees train`` and ``ordinet fees bench``: they run end to end on a
short workload, and a bad argument is one line and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.cli import main
from node.fees.model import load_fee_model

WORKLOADS = Path(__file__).resolve().parents[2] / "configs" / "workloads"


def test_train_then_bench_with_the_trained_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "fees.json"
    workload = str(WORKLOADS / "bursts.toml")
    args = ["fees", "train", "--workload", workload, "--seed", "3", "--max-duration", "60"]
    assert main([*args, "--trees", "5", "--max-depth", "3", "--quiet", "--out", str(model)]) == 0
    printed = capsys.readouterr().out
    digest = load_fee_model(model).sha256.hex()
    assert f"sha256 {digest}" in printed and "held-out coverage" in printed
    out = tmp_path / "bench"
    bench = ["fees", "bench", "--workload", workload, "--duration", "60", "--quiet"]
    bench += ["--model", str(model), "--model-hash", digest, "--blocks", "1,3"]
    bench += ["--confidence", "0.5,0.9", "--estimators", "model,percentile", "--out", str(out)]
    assert main(bench) == 0
    printed = capsys.readouterr().out
    assert "N=1 P=0.5" in printed and "N=3 P=0.9" in printed
    doc = json.loads((out / "results.json").read_text())
    assert doc["model_sha256"] == digest and doc["estimators"] == ["model", "percentile"]
    assert (out / "calibration.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--blocks", "0"], "blocks must be an integer from 1"),
        (["--confidence", "1.5"], "confidence must be a number strictly between 0 and 1"),
        (["--confidence", "x"], "comma-separated numbers"),
        (["--estimators", "magic"], "unknown fee estimator 'magic'"),
        (["--model-hash", "00" * 32], "--model-hash needs --model"),
    ],
)
def test_a_bad_bench_argument_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["fees", "bench", "--workload", str(WORKLOADS / "steady.toml"), "--out", str(tmp_path)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
