"""Reading a TOML file whose every failure is a ``ConfigError`` naming the file.

Node configs, testnet profiles and workload descriptions are all read this
way; what the values mean is each reader's business.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from node.errors import ConfigError


def read_toml(path: str | Path, what: str, *, code: str | None = None) -> dict[str, Any]:
    """The parsed table of ``path``; ``what`` names the kind of file in errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}", code=code) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} is not UTF-8: {exc}", code=code) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", code=code) from None
