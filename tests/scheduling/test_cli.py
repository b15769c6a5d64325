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
                "--duration",
                "20",
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
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["workload"]["name"] == "tiny" and doc["workload"]["path"] == str(tiny_toml)
    (model,) = doc["model"]["learned"]  # trained on the head of seed 1's trace
    assert model["seeds"] == [1] and model["sha256"] in captured.err


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


def test_bench_over_seeds_with_the_bound(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sched", "bench", "--workload", str(tiny_toml), "--policies", "fifo,fee,learned"]
    small = ["--duration", "20", "--block-size", "30", "--out", str(tmp_path)]
    assert main([*argv, "--bound", "--seeds", "3", "--seed", "5", *small]) == 0
    captured = capsys.readouterr()
    assert "seeds 5..7" in captured.out and "±" in captured.out and "of bound" in captured.out
    assert "learned / policy" in captured.out
    assert "seed 7 bound: done" in captured.err  # progress: a line per seed and policy
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["seeds"] == [5, 6, 7] and doc["policies"] == ["fifo", "fee", "learned", "bound"]
    assert len(doc["bound"]) == 3 and doc["summary"]["fee"]["utility_of_bound"]["n"] == 3
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_cold_start(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sched", "bench", "--workload", str(tiny_toml), "--policies", "fee", "--quiet"]
    small = ["--duration", "20", "--block-size", "30"]
    assert main([*argv, *small, "--out", str(tmp_path / "full")]) == 0
    assert main([*argv, *small, "--cold-start", "--out", str(tmp_path / "cold")]) == 0
    assert "(cold start)" in capsys.readouterr().out
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    cold = json.loads((tmp_path / "cold" / "results.json").read_text())
    assert cold["cold_start"] is True and full["cold_start"] is False
    txs = full["per_seed"][0]["txs"]
    assert cold["per_seed"][0]["txs"] == txs - round(txs / 2)  # as Trace.split


def test_bench_matrix_on_two_workloads(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "workloads"
    folder.mkdir()
    (folder / "a.toml").write_text(tiny_toml.read_text())
    (folder / "b.toml").write_text(
        tiny_toml.read_text().replace("rate_tps = 30.0", "rate_tps = 5.0")
    )
    out = tmp_path / "matrix"
    argv = ["sched", "bench", "--matrix", "--workload", str(folder), "--duration", "12"]
    assert (
        main([*argv, "--block-size", "30", "--train-seed", "9", "--quiet", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "| trained on \\ benched on | a | b |" in printed
    doc = json.loads((out / "matrix.json").read_text())
    assert doc["train_seeds"] == [9] and doc["test_seeds"] == [1]
    assert {r: set(c) for r, c in doc["cells"].items()} == {"a": {"a", "b"}, "b": {"a", "b"}}
    for name in ("a", "b"):
        model = out / "models" / f"{name}.json"
        assert hashlib.sha256(model.read_bytes()).hexdigest() == doc["models"][name]["sha256"]
    assert (out / "matrix.md").read_text().count("\n| ") == 4  # header, rule, two rows
    assert (out / "matrix.png").exists()


def test_bench_refuses_bad_seeds_policies_and_workloads(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sched", "bench", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--workload", str(tiny_toml), "--seeds", "0"])
    assert exit_.value.code == 2 and "--seeds: must be at least 1" in capsys.readouterr().err

    cases = [
        (
            ["--workload", str(tiny_toml), "--policies", "fee,nope"],
            "unknown scheduling policy nope",
        ),
        (["--workload", str(tmp_path / "gone.toml")], "gone.toml: cannot read workload"),
        (["--workload", str(tmp_path)], "cannot read workload"),
        (["--policies", "fee"], "needs one --workload"),
        (["--workload", str(tiny_toml), "--cold-start", "--train-frac", "0.5"], "not both"),
        (["--matrix", "--workload", str(tiny_toml), "--policies", "fee"], "drop --policies"),
        (["--matrix", "--workload", str(tiny_toml), "--train-seed", "1"], "overlap"),
        (["--matrix", "--workload", str(tmp_path)], "no workload .toml"),
    ]
    for extra, message in cases:
        assert main([*argv, *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], (extra, err)
    trace = tmp_path / "t.csv"
    assert main(["sched", "gen", "--workload", str(tiny_toml), "--out", str(trace)]) == 0
    assert main([*argv, "--workload", str(trace), "--seeds", "2"]) == 2
    assert "one fixed draw" in capsys.readouterr().err


def test_bench_on_a_simulated_network(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sched", "bench", "--workload", str(tiny_toml), "--policies", "fifo,fee,learned"]
    small = ["--duration", "12", "--block-size", "30", "--quiet"]
    net = ["--network", "4", "--latency", "uniform:5:40"]
    assert main([*argv, *small, *net, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, *small, *net, "--out", str(tmp_path / "b")]) == 0
    assert "learned / policy" in capsys.readouterr().out
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a["network"] == {"validators": 4, "consensus": "bft", "latency": "uniform:5:40"}
    for name in ("fifo", "fee", "learned"):
        metrics = a["per_seed"][0]["policies"][name]
        assert metrics["included"] > 0 and metrics["utility"] > 0
        # deterministic from the seed: the same network run gives the same figures
        same = b["per_seed"][0]["policies"][name]
        assert {k: v for k, v in metrics.items() if k != "cpu_ms_per_block"} == {
            k: v for k, v in same.items() if k != "cpu_ms_per_block"
        }


def test_bench_on_a_network_refuses_what_it_cannot_run(
    tmp_path: Path, tiny_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sched", "bench", "--workload", str(tiny_toml), "--out", str(tmp_path)]
    cases = [
        (["--network", "4", "--policies", "fee,oracle"], "needs the hidden labels"),
        (["--network", "4", "--policies", "fee", "--bound"], "needs the hidden labels"),
        (["--network", "4", "--policies", "fee", "--cold-start"], "cold-start"),
        (["--network", "4", "--policies", "learned", "--train-frac", "0.5"], "train one first"),
        (["--network", "4", "--latency", "gauss:3"], "--latency"),
        (["--latency", "fixed:5"], "give --network N"),
        (["--matrix", "--network", "4"], "drop --network"),
    ]
    for extra, message in cases:
        assert main([*argv, *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "Traceback" not in err[0], (extra, err)
