"""``ordinet sim``: output, exit status, replay command."""

from __future__ import annotations

import argparse
import json

import pytest

from node.errors import ConfigError
from node.sim import cli
from node.sim.simulator import RunResult


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ordinet")
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["sim", *argv])


def test_json_output_lists_every_seed(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(
        "--consensus",
        "poa",
        "--nodes",
        "4",
        "--blocks",
        "3",
        "--seed",
        "7",
        "--seeds",
        "2",
        "--faults",
        "drop,crash",
        "--json",
    )
    assert cli.run(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["seed"] for r in doc["runs"]] == [7, 8]
    for run in doc["runs"]:
        assert set(run) == {"seed", "committed_height", "violations", "event_log_sha256"}
        assert run["committed_height"] >= 3 and run["violations"] == []
        assert len(run["event_log_sha256"]) == 64


def test_text_output_and_event_log_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "events.log"
    args = parse("--consensus", "bft", "--blocks", "2", "--seed", "3", "--log", str(log))
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert "seed 3: committed_height=" in out and "event_log_sha256=" in out
    assert len(log.read_text().splitlines()) > 50


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        cli.config_from_args(parse("--faults", "drop,meteor"))
    with pytest.raises(ConfigError):
        cli.config_from_args(parse("--consensus", "pow", "--faults", "byzantine"))
    with pytest.raises(ConfigError):
        cli.config_from_args(parse("--latency", "gaussian:1"))


def test_a_failing_seed_prints_its_seed_and_the_replay_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parse("--consensus", "bft", "--nodes", "5", "--seed", "41", "--faults", "drop,byzantine")
    failed = RunResult(
        seed=41,
        committed_height=2,
        violations=["t=9ms safety: example"],
        event_log_sha256="0" * 64,
        sim_time_ms=9,
        events=1,
        scenario="drop=0.1",
    )
    cli._print_run(args, failed)
    out = capsys.readouterr().out
    assert "seed 41" in out and "VIOLATION" in out
    assert (
        "replay: ordinet sim --consensus bft --nodes 5 --blocks 10 --seed 41 "
        "--faults drop,byzantine" in out
    )


def test_a_workload_run_reports_the_scheduling_metrics(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    mixed = Path(__file__).resolve().parents[2] / "configs" / "workloads" / "mixed.toml"
    log = tmp_path / "run.log"
    argv = ["--workload", str(mixed), "--duration", "6", "--policy", "fee", "--send-to", "0,2"]
    assert cli.run(parse(*argv, "--json", "--log", str(log))) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert run["violations"] == [] and run["committed_height"] >= 6
    sched = run["scheduling"]
    assert sched["included"] > 0 and set(sched["by_class"]) == {"urgent", "bulk"}
    text = log.read_text().splitlines()
    assert text[0].startswith("# ordinet sim") and "--policy fee" in text[0]
    assert text[1].startswith("# scenario: ")
    assert any(" recv prevote h=" in line and " from node" in line for line in text)
    assert sum(line.startswith("# node") for line in text) == 4  # each node's final state
    assert {line.split()[1] for line in text if " submit " in line} <= {"node0", "node2"}


def test_bad_workload_options_are_config_errors(tmp_path) -> None:
    cases = [
        ("--send-to", "4"),
        ("--send-to", "0,0"),
        ("--policy", "nope"),
        ("--policy", "oracle"),
        ("--workload", str(tmp_path / "missing.toml")),
        ("--duration", "5"),
    ]
    for argv in cases:
        with pytest.raises(ConfigError):
            cli.config_from_args(parse(*argv))
