"""The README documents what the command line and the settings really are."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from qscaler.cli import _parser
from qscaler.record.status import WARNING_REASONS
from qscaler.settings import Settings
from qscaler.usage import EXIT_CODES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(title)
    return README[start : README.index("\n## ", start + len(title))]


def test_every_setting_is_in_the_readmes_settings_table() -> None:
    documented = set(re.findall(r"QSCALER_[A-Z_]+", section("### Settings")))
    missing = {f"QSCALER_{name.upper()}" for name in Settings.model_fields} - documented
    assert not missing, f"add to the README's Settings table: {sorted(missing)}"


def test_every_command_and_flag_is_in_the_readmes_command_list() -> None:
    commands = section("## Commands")
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        assert f"qscaler {name}" in commands, name
        flags = {f for a in parser._actions for f in a.option_strings if f.startswith("--")}
        flags -= {"--help", "--kubeconfig", "--context", "--namespace", "--timeout"}
        if name in ("simulate", "loadgen", "import"):
            continue  # their scenario and load knobs are in their --help
        missing = sorted(f for f in flags if f not in commands)
        assert not missing, f"qscaler {name}: {missing} missing from the README's command list"


def test_the_exit_status_1_reasons_are_every_warning_reason() -> None:
    """README's exit-status table and `--help` list exactly the reasons that make
    `plan`, `status` and `explain` exit 1."""
    warnings = {r.value for r in WARNING_REASONS}
    row = next(line for line in section("## Commands").splitlines() if line.startswith("| 1 |"))
    assert set(re.findall(r"`(\w+)`", row)) == warnings
    listed = EXIT_CODES.split("  1  ", 1)[1].split("  2  ", 1)[0]
    assert set(re.findall(r"[A-Z]\w+", listed)) - {"Warning"} == warnings
