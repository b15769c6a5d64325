"""Trace files: CSV and JSONL round trips, and strict refusal of bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from node.errors import ConfigError
from node.research.trace import Trace, read_trace, write_trace

HEADER = "arrival_s,sender,recipient,nonce,fee,size,class,deadline_s,value\n"
GOOD = "0.5,alice,bob,0,300,200,urgent,4.0,10.0\n"


def _same(a: Trace, b: Trace) -> None:
    for name in ("arrival_s", "nonce", "fee", "size", "deadline_s", "value"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert a.sender == b.sender and a.recipient == b.recipient and a.tx_class == b.tx_class


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_round_trip_is_exact(tmp_path: Path, tiny_trace: Trace, suffix: str) -> None:
    path = tmp_path / f"trace{suffix}"
    write_trace(tiny_trace, path)
    _same(read_trace(path), tiny_trace)


def test_empty_deadline_means_none_and_extra_columns_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "arrival_s,sender,recipient,nonce,fee,size,class,deadline_s,value,note\n"
        "0.5,alice,bob,0,300,200,bulk,,1.5,hello\n"
    )
    trace = read_trace(path)
    assert np.isnan(trace.deadline_s[0]) and trace.value[0] == 1.5


def test_label_columns_are_optional(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    row = {"arrival_s": 1, "sender": "a", "recipient": "b", "nonce": 0, "fee": 5, "size": 170}
    path.write_text(json.dumps(row) + "\n")
    trace = read_trace(path)
    assert trace.tx_class == ["default"] and trace.value[0] == 0 and np.isnan(trace.deadline_s[0])


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("0.5,alice,bob,0,abc,200,urgent,4.0,10.0\n", "fee"),
        ("-1,alice,bob,0,300,200,urgent,4.0,10.0\n", "arrival_s"),
        ("0.5,,bob,0,300,200,urgent,4.0,10.0\n", "sender"),
        ("0.5,alice,bob,1.5,300,200,urgent,4.0,10.0\n", "nonce"),
        ("0.5,alice,bob,0,300,0,urgent,4.0,10.0\n", "size"),
        ("0.5,alice,bob,0,300,200,urgent,0,10.0\n", "deadline_s"),
        ("0.5,alice,bob,0,300,200,urgent,4.0,nan\n", "value"),
    ],
)
def test_csv_bad_row_is_refused_with_line_and_field(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + GOOD + row + GOOD)
    with pytest.raises(ConfigError, match=rf"line 3: field '{field}'") as info:
        read_trace(path)
    assert info.value.code == "bad_trace"


def test_csv_wrong_field_count_and_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + GOOD + GOOD + "0.5,alice,bob\n")
    with pytest.raises(ConfigError, match="line 4: expected 9 fields, got 3"):
        read_trace(path)
    path.write_text("arrival_s,sender,recipient,nonce,size\n")
    with pytest.raises(ConfigError, match=r"line 1: header lacks the required column\(s\) fee"):
        read_trace(path)


def test_jsonl_bad_rows_are_refused_with_line(tmp_path: Path) -> None:
    good = {"arrival_s": 1.0, "sender": "a", "recipient": "b", "nonce": 0, "fee": 5, "size": 170}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "nonce": True}) + "\n")
    with pytest.raises(ConfigError, match="line 3: field 'nonce'"):
        read_trace(path)
    path.write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        read_trace(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "fee"}) + "\n")
    with pytest.raises(ConfigError, match=r"line 1: missing field\(s\) fee"):
        read_trace(path)


def test_unknown_format_and_missing_file(tmp_path: Path, tiny_trace: Trace) -> None:
    with pytest.raises(ConfigError, match="unknown trace format"):
        write_trace(tiny_trace, tmp_path / "t.parquet")
    with pytest.raises(ConfigError, match="cannot read trace"):
        read_trace(tmp_path / "missing.csv")


def test_split_keeps_arrival_order(tiny_trace: Trace) -> None:
    head, tail = tiny_trace.split(0.25)
    assert len(head) + len(tail) == len(tiny_trace)
    assert head.arrival_s.max() <= tail.arrival_s.min()


def test_next_nonces_skip_what_waits_behind_a_gap() -> None:
    trace = Trace(
        arrival_s=np.arange(6.0),
        sender=["a", "a", "a", "b", "b", "c"],
        recipient=["x"] * 6,
        nonce=np.array([0, 1, 3, 5, 6, 0]),
        fee=np.ones(6, dtype=np.int64),
        size=np.full(6, 200),
        tx_class=["default"] * 6,
        deadline_s=np.full(6, np.nan),
        value=np.zeros(6),
    )
    assert trace.next_nonces() == {"a": 2, "b": 0, "c": 1}
