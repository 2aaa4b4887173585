"""Log lines: the JSON line's own keys survive whatever fields a caller passes."""

from __future__ import annotations

import json
import logging

from qscaler.record.logs import JsonFormatter, TextFormatter


def record(fields: dict[str, object]) -> logging.LogRecord:
    line = logging.LogRecord("qscaler.loop", logging.INFO, "loop.py", 1, "scaled %s", ("up",), None)
    line.fields = fields
    return line


def test_a_field_named_like_a_key_of_the_line_does_not_overwrite_it() -> None:
    fields: dict[str, object] = {"message": "from a field", "level": "fake", "vhost": "/"}
    data = json.loads(JsonFormatter().format(record(fields)))
    assert data["message"] == "scaled up"
    assert data["level"] == "info"
    assert data["message_field"] == "from a field"
    assert data["level_field"] == "fake"
    assert data["vhost"] == "/"


def test_text_lines_carry_the_same_fields() -> None:
    line = TextFormatter().format(record({"vhost": "/", "reason": "Scale Up"}))
    assert line.endswith('scaled up vhost=/ reason="Scale Up"')
