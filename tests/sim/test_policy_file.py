"""Policy files for the simulator, and where the default policy lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from qscaler.errors import BindingError, ConfigError
from qscaler.sim.policy_file import load_policy, parse_policy
from qscaler.sim.report import BEGIN, END, write_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_keys_get_the_prefix_and_values_become_strings() -> None:
    text = "target-drain-seconds: 60\nqscaler.io/tolerance: 0.2\nmode: active\nx: true\n"
    assert parse_policy(text) == {
        "qscaler.io/target-drain-seconds": "60",
        "qscaler.io/tolerance": "0.2",
        "qscaler.io/mode": "active",
        "qscaler.io/x": "true",
    }


def test_an_empty_file_is_an_empty_policy() -> None:
    assert parse_policy("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("- a\n- b\n", "expected a mapping", id="list"),
        pytest.param("cooldown: [1, 2]\n", "must be a single value", id="nested"),
        pytest.param("cooldown: 'x\n", "not valid YAML", id="broken-yaml"),
        pytest.param("1: 2\n", "keys must be annotation names", id="number-key"),
    ],
)
def test_malformed_files_are_named_in_the_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_policy(text, "p.yaml")
    assert str(caught.value).startswith("p.yaml: ")


def test_a_policy_is_checked_by_the_controllers_own_parser(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("cooldown: 30s\n")  # neither messages-per-replica nor target-drain-seconds
    with pytest.raises(BindingError, match="messages-per-replica is required"):
        load_policy(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy"):
        load_policy(tmp_path / "nope.yaml")


def test_the_packaged_default_is_the_benchmark_policy() -> None:
    bench = load_policy(ROOT / "bench" / "policy.yaml")
    assert load_policy(None) == bench
    assert bench["qscaler.io/target-drain-seconds"] == "60s"  # rate-aware: no service rate given
    assert "qscaler.io/messages-per-replica" not in bench


def test_markdown_without_markers_becomes_a_new_document(tmp_path: Path) -> None:
    path = tmp_path / "out.md"
    write_markdown(path, "| table |\n")
    text = path.read_text()
    assert text.startswith("# Scaling benchmark\n")
    assert f"{BEGIN}\n\n| table |\n\n{END}" in text
