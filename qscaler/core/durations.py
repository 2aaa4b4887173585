"""Durations as users write them in annotations: `300`, `300s`, `5m`, `1h30m`.

Kubernetes users write Go-style durations everywhere else, so qscaler accepts
the same units (s, m, h) and plain seconds, and nothing more exotic.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float | None:
    """Seconds in `text`, or None when it is not a duration.

    >>> parse_duration("5m"), parse_duration("90"), parse_duration("1h30m")
    (300.0, 90.0, 5400.0)
    """
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or _PART.sub("", text):
        return None
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
