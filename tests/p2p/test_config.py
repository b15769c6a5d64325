"""P2PConfig: defaults that work, and a ConfigError naming a bad field."""

from __future__ import annotations

import pytest

from node.errors import ConfigError
from node.p2p.config import MIB, P2PConfig


def test_defaults_are_valid_and_loopback() -> None:
    config = P2PConfig()
    assert config.host == "127.0.0.1" and config.port == 0
    assert config.max_msg_bytes == 8 * MIB
    assert config.static_addresses() == ()


def test_from_mapping_reads_a_config_table() -> None:
    config = P2PConfig.from_mapping(
        {"port": 26656, "static_peers": ["127.0.0.1:26657", "[::1]:26658"], "ban_s": 60}
    )
    assert config.static_addresses() == (("127.0.0.1", 26657), ("::1", 26658))
    assert config.ban_s == 60


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"port": 70000}, "port"),
        ({"port": -1}, "port"),
        ({"max_peers": 0}, "max_peers"),
        ({"ban_s": -1}, "ban_s"),
        ({"ban_s": "soon"}, "ban_s"),
        ({"max_peers": True}, "max_peers"),
        ({"msgs_per_s": 0}, "msgs_per_s"),
        ({"handshake_timeout_s": 0}, "handshake_timeout_s"),
        ({"path": "p2p"}, "path"),
        ({"static_peers": ["nohost"]}, "nohost"),
        ({"static_peers": "127.0.0.1:1"}, "static_peers"),
        ({"max_msg_bytes": 10 * MIB, "burst_bytes": MIB}, "burst_bytes"),
        ({"backoff_base_s": 5, "backoff_max_s": 1}, "backoff_max_s"),
        ({"max_outbox_bytes": MIB}, "max_outbox_bytes"),  # under max_msg_bytes
        ({"write_timeout_s": 0}, "write_timeout_s"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_it(values: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        P2PConfig.from_mapping(values)
