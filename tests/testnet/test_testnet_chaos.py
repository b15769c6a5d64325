"""The chaos profiles, run for real in the foreground as `make testnet` runs:
the short one in `make test`, the long one under `make soak`. Every
perturbation is applied, the network recovers after each repair, every
node ends on one chain, and no accepted tx is lost or committed twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testnetkit import ordinet

from node.testnet import procs
from node.testnet.manifest import load_manifest
from node.testnet.profile import HEAL, RESTART, RESUME, load_profile

PROFILES = Path(__file__).resolve().parents[2] / "configs" / "testnet"


def _run_profile(name: str, home: Path, timeout_s: float, *, every_repair: bool) -> dict:
    """Run a profile in the foreground; check the summary. With ``every_repair``,
    the network must recover after each repair before the next step; else
    after the last one (compound faults may outlast the gap: see docs/TESTNET.md)."""
    profile = load_profile(PROFILES / name).check()
    out = ordinet("testnet", "up", "--profile", PROFILES / name, "--home", home,
                  timeout_s=timeout_s)  # fmt: skip
    summary = json.loads((home / "summary.json").read_text())
    assert "Summary" in out and "result: OK" in out, out
    assert summary["ok"] and summary["agree"], summary["agree_detail"]
    load = summary["load"]
    assert load["accepted"] > 0
    assert load["lost"] == 0 and load["duplicates"] == 0
    assert load["committed"] >= load["accepted"]
    events = summary["events"]
    assert [e["action"] for e in events] == [p.describe() for p in profile.perturbations]
    assert not any(e["error"] for e in events)
    repairs = [e for e in events if e["action"].split()[0] in (RESTART, RESUME, HEAL)]
    for event in repairs if every_repair else repairs[-1:]:
        assert event["synced_s"] is not None, f"no recovery after {event['action']}"
    # and nothing is left running
    for node in load_manifest(home).nodes:
        assert node.state == "stopped"
    return summary


def test_short_chaos_profile(net_home: Path) -> None:
    summary = _run_profile("chaos-short.toml", net_home, timeout_s=600, every_repair=True)
    assert summary["blocks"] > 10


@pytest.mark.slow
def test_long_chaos_profile(net_home: Path) -> None:
    summary = _run_profile("chaos.toml", net_home, timeout_s=1500, every_repair=False)
    assert summary["blocks"] > 100


def test_no_node_outlives_a_killed_supervisor(net_home: Path) -> None:
    """Even a SIGKILLed foreground `testnet up` leaves no node behind."""
    import signal
    import subprocess
    import sys

    from nodekit import wait_until

    up = subprocess.Popen(
        [sys.executable, "-m", "node", "testnet", "up", "--nodes", "2", "--home", str(net_home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        manifest = wait_until(
            lambda: (m := _manifest_when_running(net_home)) and m, "both nodes started"
        )
        up.send_signal(signal.SIGKILL)
        up.wait(timeout=30)
        for node in manifest.nodes:
            wait_until(
                lambda n=node: procs.process_state(n.pid, n.home) == procs.GONE,
                f"{node.name} to die with its supervisor",
                deadline_s=30,
            )
    finally:
        if up.poll() is None:
            up.kill()


def _manifest_when_running(home: Path):  # type: ignore[no-untyped-def]
    if not (home / "testnet.json").exists():
        return None
    manifest = load_manifest(home)
    if all(n.pid is not None for n in manifest.nodes):
        return manifest
    return None
