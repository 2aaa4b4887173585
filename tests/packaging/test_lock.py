"""requirements.lock: the image's exact, hash-checked dependency set.

The Dockerfile installs it with `--require-hashes --no-deps`, so it must hold
every runtime dependency (direct and transitive) at a version pyproject.toml
allows, each with its hashes. When a dependency range in pyproject.toml
changes, these tests fail until the lock is regenerated with the command in
its header.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def _entries() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        pin = _PIN.match(line)
        if pin:
            current = canonicalize_name(pin.group(1))
            entries[current] = (pin.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


def _direct() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


@pytest.mark.parametrize("requirement", _direct(), ids=lambda r: r.name)
def test_every_runtime_dependency_is_pinned_within_its_range(requirement: Requirement) -> None:
    entries = _entries()
    name = canonicalize_name(requirement.name)
    assert name in entries, f"{requirement.name} is not in requirements.lock: regenerate it"
    version, _ = entries[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements.lock pins {name}=={version}, outside pyproject's {requirement}"
    )


def test_every_pin_carries_hashes() -> None:
    entries = _entries()
    assert len(entries) >= len(_direct())
    unhashed = [name for name, (_, hashes) in entries.items() if hashes == 0]
    assert not unhashed, f"--require-hashes would refuse: {unhashed}"


def test_lock_holds_no_development_tools() -> None:
    entries = _entries()
    for tool in ("pytest", "ruff", "mypy", "hypothesis", "matplotlib", "import-linter"):
        assert tool not in entries, f"{tool} would ship in the image"
