"""Structured logs: one line per event, as ``key=value`` text or JSON.

Every part of the node logs an event name and its fields in one message,
``"EVENT key=value key=value"`` (node.p2p does the same with ``p2p.*``
events). The text format prints that line after a timestamp, the level and
the logger; the JSON format splits it into an object, so a log file can be
read by a person or by ``jq`` alike.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from node.config import LogConfig

_TEXT_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_event(message: str) -> dict[str, Any]:
    """``"EVENT k=v k2=v2"`` as ``{"event": EVENT, "k": "v", ...}``; a message
    that is not in that form is kept whole under ``msg``."""
    head, _, rest = message.partition(" ")
    if not head or "=" in head:
        return {"msg": message}
    out: dict[str, Any] = {"event": head}
    for part in rest.split(" "):
        key, sep, value = part.partition("=")
        if not sep or not key:
            return {"msg": message}
        out[key] = value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
        }
        body.update(parse_event(record.getMessage()))
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, separators=(",", ":"))


def configure_logging(config: LogConfig) -> logging.Handler:
    """Send the root logger to stderr (or ``config.file``) in the chosen format."""
    if config.file is not None:
        config.file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(config.file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    if config.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT, _DATE_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)
    # aiohttp's access log would print a line per API request
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return handler
