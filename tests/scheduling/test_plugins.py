"""Policy plugins: files, modules and entry points register policies; bad ones are typed errors."""

from __future__ import annotations

import importlib
import logging
import textwrap
from pathlib import Path

import numpy as np
import pytest

from node.errors import ConfigError
from node.scheduling import plugins
from node.scheduling import policy as policy_registry
from node.scheduling.policy import TxColumns, load_policy, policy_names

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "configs" / "policies" / "fee_band_fifo.py"

PLUGIN = """
import numpy as np
from node.scheduling.policy import Policy, register

@register
class Plugged(Policy):
    name = "{name}"

    def score(self, txs):
        return -np.asarray(txs.fee, dtype=np.float64)
"""


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the builtin policies only and leaves no plugin behind."""
    policy_names()
    monkeypatch.setattr(policy_registry, "_REGISTRY", dict(policy_registry._REGISTRY))
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setattr(plugins, "_ENTRY_POINT_ERRORS", [])
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def _columns(fee: list[float], size: list[int], arrival_s: list[float]) -> TxColumns:
    n = len(fee)
    return TxColumns(
        arrival_s=np.asarray(arrival_s, dtype=np.float64),
        fee=np.asarray(fee, dtype=np.float64),
        size=np.asarray(size, dtype=np.int64),
        nonce=np.zeros(n, dtype=np.uint64),
        nonce_gap=np.zeros(n, dtype=np.int64),
        sender=[bytes([i]) * 20 for i in range(n)],
        recipient=[bytes(20)] * n,
    )


def test_example_plugin_file_registers_fee_band_fifo() -> None:
    assert plugins.load_policy_modules(str(EXAMPLE)) == ["fee-band-fifo"]
    policy = load_policy("fee-band-fifo")
    # fee rates 3.0 and 3.5 share band 2-4; 8.0 is richer; 1.0 poorer.
    txs = _columns(fee=[300, 350, 800, 100], size=[100] * 4, arrival_s=[2.0, 1.0, 3.0, 0.5])
    order = np.argsort(-policy.score(txs), kind="stable")
    assert order.tolist() == [2, 1, 0, 3]


def test_relative_path_resolves_against_base_dir_and_loading_twice_is_harmless() -> None:
    names = plugins.load_policy_modules(["fee_band_fifo.py"], base_dir=EXAMPLE.parent)
    assert names == ["fee-band-fifo"]
    assert plugins.load_policy_modules(str(EXAMPLE)) == ["fee-band-fifo"]
    assert "fee-band-fifo" in policy_names()


def test_importable_module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "my_sched_plugin.py", PLUGIN.format(name="by-module"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugins.load_policy_modules("my_sched_plugin") == ["by-module"]
    assert load_policy("by-module").name == "by-module"


def test_no_specs_loads_nothing() -> None:
    assert plugins.load_policy_modules(None) == []
    assert plugins.load_policy_modules([]) == []


@pytest.mark.parametrize(
    ("source", "code", "words"),
    [
        ("def broken(:\n", "policy_module_syntax", "line 1"),
        ("import no_such_package_xyz\n", "policy_module_import", "ModuleNotFoundError"),
        ("raise RuntimeError('boom')\n", "policy_module_import", "boom"),
        ("X = 1\n", "policy_module_empty", "registers no scheduling policy"),
        (PLUGIN.format(name="fee"), "policy_name_clash", "fee"),
    ],
    ids=["syntax", "import-error", "raises", "empty", "clash-with-builtin"],
)
def test_bad_plugin_file_is_a_config_error_naming_the_file(
    tmp_path: Path, source: str, code: str, words: str
) -> None:
    path = _write(tmp_path / "bad_plugin.py", source)
    builtin = dict(policy_registry._REGISTRY)
    with pytest.raises(ConfigError) as caught:
        plugins.load_policy_modules(str(path))
    assert caught.value.code == code
    assert str(path) in caught.value.message
    assert words in caught.value.message
    assert builtin == policy_registry._REGISTRY  # nothing half-registered or replaced


def test_clash_between_two_plugins_keeps_the_first(tmp_path: Path) -> None:
    first = _write(tmp_path / "first.py", PLUGIN.format(name="twin"))
    second = _write(tmp_path / "second.py", PLUGIN.format(name="twin"))
    plugins.load_policy_modules(str(first))
    kept = policy_registry._REGISTRY["twin"]
    with pytest.raises(ConfigError) as caught:
        plugins.load_policy_modules(str(second))
    assert caught.value.code == "policy_name_clash"
    assert policy_registry._REGISTRY["twin"] is kept


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("missing/plugin.py", "policy_module_missing"),
        ("no_such_policy_module_xyz", "policy_module_not_found"),
        ("", "policy_module_invalid"),
    ],
)
def test_unknown_spec_is_a_config_error(tmp_path: Path, spec: str, code: str) -> None:
    with pytest.raises(ConfigError) as caught:
        plugins.load_policy_modules(spec, base_dir=tmp_path)
    assert caught.value.code == code


def test_non_string_spec_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        plugins.load_policy_modules([3])  # type: ignore[list-item]
    assert caught.value.code == "policy_module_invalid"


def _fake_distribution(root: Path, entry_points: str) -> None:
    info = root / "fake_ordinet_policies-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-ordinet-policies\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    importlib.invalidate_caches()


def test_entry_points_register_policies_and_broken_ones_only_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path / "ep_module_plugin.py", PLUGIN.format(name="ep-module"))
    _write(
        tmp_path / "ep_class_plugin.py",
        """
        import numpy as np
        from node.scheduling.policy import Policy

        class ByClass(Policy):
            name = "ep-class"

            def score(self, txs):
                return np.zeros(len(txs))
        """,
    )
    _write(tmp_path / "ep_raising_plugin.py", "raise RuntimeError('bad package')\n")
    _fake_distribution(
        tmp_path,
        """
        [ordinet.policies]
        module = ep_module_plugin
        cls = ep_class_plugin:ByClass
        raising = ep_raising_plugin
        missing = ep_not_installed_xyz
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="node.scheduling.plugins"):
        added = plugins.ensure_entry_point_policies()
    assert sorted(added) == ["ep-class", "ep-module"]
    assert {"ep-class", "ep-module"} <= set(policy_names())
    errors = plugins.entry_point_errors()
    assert len(errors) == 2
    assert any("raising" in e and "bad package" in e for e in errors)
    assert any("missing" in e for e in errors)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    assert plugins.ensure_entry_point_policies() == []  # once only


def test_entry_point_clashing_with_a_builtin_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "ep_clash_plugin.py", PLUGIN.format(name="fifo"))
    _fake_distribution(tmp_path, "[ordinet.policies]\nclash = ep_clash_plugin\n")
    builtin_fifo = policy_registry._REGISTRY["fifo"]
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugins.ensure_entry_point_policies() == []
    assert policy_registry._REGISTRY["fifo"] is builtin_fifo
    assert "already registered" in plugins.entry_point_errors()[0]
