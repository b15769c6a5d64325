"""The classroom API: step, look, drop, delay, crash, restart."""

from __future__ import annotations

from node.sim.simulator import SimConfig
from node.sim.stepping import Stepper


def test_stepping_to_a_commit_shows_the_votes_and_their_signers() -> None:
    s = Stepper(SimConfig(consensus="bft", nodes=4, blocks=5), 1)
    try:
        lines = s.run_until_commit()
        assert lines and lines[-1].split()[2] == "commit"
        committed = [n for n in s.nodes() if n["height"] >= 1]
        assert committed, "some node committed height 1"
        states = s.nodes()
        assert all(n["alive"] and n["engine"]["engine"] == "bft" for n in states)
        # a node still at height 1 shows who voted; a committed one moved on
        signer_lists = [
            signers
            for n in states
            for votes in n["engine"]["votes"].values()
            for signers in votes["precommit_signers"].values()
        ]
        assert signer_lists and all(
            name.startswith("node") for signers in signer_lists for name in signers
        )
    finally:
        s.close()


def test_a_dropped_message_never_arrives_and_the_log_says_so() -> None:
    s = Stepper(SimConfig(consensus="bft", nodes=4, blocks=5), 2)
    try:
        while not s.in_flight():
            s.step()
        target = s.in_flight()[0]
        assert s.drop(target.id)
        assert target.id not in {m.id for m in s.in_flight()}
        assert not s.drop(target.id)  # only once
        assert any("dropped by hand" in line for line in s.sim.lines or [])
        arrivals = []
        for _ in range(200):
            arrivals += [
                line
                for line in s.step()
                if line.startswith(f"t={target.deliver_at_ms}ms node{target.dst} ")
                and f"from node{target.src}" in line
                and target.summary in line
            ]
        assert arrivals == []
    finally:
        s.close()


def test_a_delayed_message_arrives_later() -> None:
    s = Stepper(SimConfig(consensus="poa", nodes=4, blocks=5), 3)
    try:
        while not s.in_flight():
            s.step()
        m = s.in_flight()[0]
        assert s.delay(m.id, 500)
        later = [x for x in s.in_flight() if x.deliver_at_ms == m.deliver_at_ms + 500]
        assert any(x.summary == m.summary and x.dst == m.dst for x in later)
    finally:
        s.close()


def test_a_crashed_node_stays_down_and_restarts_from_its_store() -> None:
    s = Stepper(SimConfig(consensus="bft", nodes=4, blocks=30), 4)
    try:
        for _ in range(3):
            s.run_until_commit()
        assert s.crash(2) and not s.crash(2)
        crashed_at = max(n["height"] for n in s.nodes() if n["alive"])
        for _ in range(100):
            s.run_until_commit()
            if min(n["height"] for n in s.nodes() if n["alive"]) >= crashed_at + 3:
                break
        assert s.node(2) == {
            "node": 2,
            "alive": False,
            "byzantine": False,
            "clock_skew_ms": 0,
            "penalties": 0,
        }
        others = [n["height"] for n in s.nodes() if n["alive"]]
        assert min(others) >= crashed_at + 3, "three of four validators go on"
        assert s.restart(2) and not s.restart(2)
        height = s.node(2)["height"]
        assert height >= 1, "it kept its blocks"
        for _ in range(200):
            s.run_until_commit()
            if s.node(2)["height"] >= max(others):
                break
        assert s.node(2)["height"] >= max(others), "it caught up"
        assert {"crash", "restart"} <= {line.split()[2] for line in s.sim.lines or []}
    finally:
        s.close()


def test_the_same_touches_replay_the_same_run() -> None:
    def run() -> str:
        s = Stepper(SimConfig(consensus="bft", nodes=4, blocks=3), 5)
        try:
            for k in range(300):
                s.step()
                if k == 40 and s.in_flight():
                    s.drop(s.in_flight()[0].id)
                if k == 60:
                    s.crash(1)
                if k == 200:
                    s.restart(1)
            while s.step():
                pass
            return s.sim.result().event_log_sha256
        finally:
            s.close()

    assert run() == run()
