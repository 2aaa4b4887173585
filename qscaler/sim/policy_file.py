"""Policy files: the qscaler annotations of one workload, as YAML, for the simulator.

A user trying a policy writes the same keys they would put on a Deployment,
with or without the `qscaler.io/` prefix:

    target-drain-seconds: 60
    cooldown: 30s
    scale-down-limit: 100%

The file is checked with the same parser the controller uses, so a typo is
reported before a simulation runs rather than showing up as a workload that
never scales. With no file, the benchmark's default policy (shipped in the
package as `default_policy.yaml`, the same as `bench/policy.yaml`) is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import yaml

from qscaler.core.annotations import PREFIX
from qscaler.core.binding import parse_binding
from qscaler.errors import BindingError, ConfigError
from qscaler.sim.controllers import Bounds
from qscaler.sim.qscaler_controller import sim_annotations

DEFAULT_POLICY = "default_policy.yaml"


def load_policy(path: Path | None) -> dict[str, str]:
    """The annotations in `path` (the default policy when None), checked.

    Raises `ConfigError` naming the file when it cannot be read or parsed and
    `BindingError` listing every invalid annotation.
    """
    if path is None:
        text = resources.files("qscaler.sim").joinpath(DEFAULT_POLICY).read_text("utf-8")
        source = f"the default policy ({DEFAULT_POLICY})"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read policy {path}: {exc}") from exc
        source = str(path)
    annotations = parse_policy(text, source)
    check_policy(annotations, source)
    return annotations


def parse_policy(text: str, source: str = "<policy>") -> dict[str, str]:
    """The annotations of a policy file's text, every key prefixed, every value a string."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{source}: expected a mapping of qscaler annotations to values")
    return {_key(k, source): _value(k, v, source) for k, v in document.items()}


def check_policy(annotations: Mapping[str, str], source: str = "<policy>") -> None:
    """Parse the annotations as the controller would (bound to the simulated queue)."""
    try:
        parse_binding(sim_annotations(annotations, Bounds()))
    except BindingError as exc:
        raise BindingError([f"{source}: {p}" for p in exc.problems]) from None


def _key(key: object, source: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"{source}: keys must be annotation names, found {key!r}")
    key = key.strip()
    return key if key.startswith(PREFIX) else PREFIX + key


def _value(key: object, value: object, source: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConfigError(f"{source}: {key} must be a single value, found {value!r}")
