"""A trace's own scenario: `NAME.scenario.yaml` next to `NAME.csv`.

Most traces run in the default scenario (docs/benchmark-model.md), but some traffic
only makes sense with its own consumers: the `cron` trace is a recurring batch
for slow-starting consumers (start-up 60 s, 5 messages per second each), scored
from its third batch on. Keeping that next to the trace, rather than in code,
lets anyone add a trace with its own scenario and have `qscaler bench` and
`qscaler simulate` use it:

    # cron.scenario.yaml
    startup_seconds: 60
    service_rate: 5
    score_from: 2700
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import yaml

from qscaler.errors import ConfigError
from qscaler.sim.world import Scenario

SUFFIX = ".scenario.yaml"
_KEYS = {f.name: f.type for f in fields(Scenario)}


def scenario_path(trace_path: Path) -> Path:
    """Where the scenario of the trace at `trace_path` lives, if it has one."""
    return trace_path.with_name(trace_path.stem + SUFFIX)


def load_scenario(trace_path: Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """The trace's scenario (the default one without a file), with `overrides` applied.

    Raises `ConfigError` naming the file for anything that is not a known key
    with a number.
    """
    path = scenario_path(trace_path)
    values: dict[str, Any] = _read(path) if path.exists() else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return replace(Scenario(), **values)


def _read(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping of scenario values")
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown scenario key {key!r}; known: {', '.join(_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: {key} must be a number, got {value!r}")
        if _KEYS[key] in (int, "int") and value != int(value):
            raise ConfigError(f"{path}: {key} must be a whole number, got {value!r}")
        values[key] = int(value) if _KEYS[key] in (int, "int") else float(value)
    return values
