"""`ordinet sched gen|train|bench` end to end on small inputs, through node.cli.main."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from node.cli import main


def test_gen_train_bench_end_to_end(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "tiny.jsonl"
    assert (
        main(["sched", "gen", "--workload", str(tiny_toml), "--seed", "2", "--out", str(trace)])
        == 0
    )
    assert "wrote" in capsys.readouterr().out and trace.stat().st_size > 0

    model = tmp_path / "model.json"
    small = ["--trees", "15", "--block-size", "30"]
    assert (
        main(
            ["sched", "train", "--workload", str(trace), "--out", str(model), "--seed", "4", *small]
        )
        == 0
    )
    out = capsys.readouterr().out
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in out and "held-out R2" in out

    again = tmp_path / "again.json"
    assert (
        main(
            ["sched", "train", "--workload", str(trace), "--out", str(again), "--seed", "4", *small]
        )
        == 0
    )
    assert again.read_bytes() == model.read_bytes()

    results = tmp_path / "results"
    assert (
        main(
            [
                "sched",
                "bench",
                "--workload",
                str(trace),
                "--policies",
                "fifo,fee,learned,oracle",
                "--model",
                str(model),
                "--model-hash",
                digest,
                "--block-size",
                "30",
                "--interval",
                "1.0",
                "--quiet",
                "--out",
                str(results),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "utility" in out and "Jain fairness" in out and f"sha256 {digest}" in out
    doc = json.loads((results / "results.json").read_text())
    assert list(doc["policies"]) == ["fifo", "fee", "learned", "oracle"]
    assert (results / "results.csv").exists() and (results / "summary.png").exists()


def test_bench_takes_a_toml_and_trains_on_a_fraction(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "sched",
                "bench",
                "--workload",
                str(tiny_toml),
                "--policies",
                "fee,learned",
                "--train-frac",
                "0.5",
                "--blocks",
                "20",
                "--block-size",
                "30",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "trained on" in captured.err
    assert json.loads((tmp_path / "results.json").read_text())["workload"]["name"] == "tiny"


def test_errors_are_one_clear_line(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_s,sender,recipient,nonce,fee,size\n0,a,b,0,1,200\n1,a,b,x,1,200\n")
    assert main(["sched", "bench", "--workload", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "line 3: field 'nonce'" in err and "Traceback" not in err

    assert (
        main(
            [
                "sched",
                "bench",
                "--workload",
                str(tiny_toml),
                "--policies",
                "fifo,lifo",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "unknown scheduling policy lifo" in capsys.readouterr().err

    toml = tmp_path / "w.toml"
    toml.write_text(tiny_toml.read_text().replace("rate_tps = 15.0", "rate_tps = 0"))
    assert main(["sched", "gen", "--workload", str(toml), "--out", str(tmp_path / "t.csv")]) == 2
    assert "'source[0].rate_tps': must be > 0" in capsys.readouterr().err

    model = tmp_path / "m.json"
    model.write_text("{}")
    assert (
        main(
            [
                "sched",
                "bench",
                "--workload",
                str(tiny_toml),
                "--policies",
                "learned",
                "--model",
                str(model),
                "--model-hash",
                "00" * 32,
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "refusing to load it" in capsys.readouterr().err


def test_bench_loads_a_policy_module_and_refuses_a_missing_one(
    tiny_toml: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from node.scheduling import plugins, policy

    policy.policy_names()  # the plugin's policy must not outlive this test
    monkeypatch.setattr(policy, "_REGISTRY", dict(policy._REGISTRY))
    monkeypatch.setattr(plugins, "_LOADED", {})
    plugin = Path(__file__).resolve().parents[2] / "configs" / "policies" / "fee_band_fifo.py"
    out = tmp_path / "bench"
    argv = ["sched", "bench", "--workload", str(tiny_toml), "--out", str(out)]
    assert main([*argv, "--policies", "fifo,fee-band-fifo", "--policy-module", str(plugin)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["policies"]) == {"fifo", "fee-band-fifo"}
    capsys.readouterr()
    assert main([*argv, "--policy-module", str(tmp_path / "missing.py")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.py: no such file" in err[0]
