"""Log lines: one per decision that changed something and one per error.

Text for people at a terminal, JSON (one object per line) for log pipelines.
Structured fields travel in `extra={"fields": {...}}` so both formats carry
the same data, and the decision reason is the same word as in metrics and
Events. A field named like one of the JSON line's own keys (`time`, `level`,
`logger`, `message`, `exception`) is written as `<name>_field`, never over it.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Literal

#: The keys every JSON line has; fields never overwrite them.
_OWN_KEYS = frozenset({"time", "level", "logger", "message", "exception"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a JSON line."""
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            data[f"{key}_field" if key in _OWN_KEYS else key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger message key=value ...` for humans."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render the record with its fields appended as key=value."""
        line = super().format(record)
        fields = getattr(record, "fields", {})
        if fields:
            line += " " + " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        return line


def _quote(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


def configure_logging(fmt: Literal["text", "json"], level: str) -> None:
    """Send qscaler's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The Kubernetes client logs every retry at INFO; ours say it better.
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    # urllib3 logs every connection retry at WARNING; the reflector and the
    # lease report an unreachable API server once, in their own words.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.WARNING)
