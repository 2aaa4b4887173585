"""A trace's own scenario file, NAME.scenario.yaml, as bench and simulate read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qscaler.errors import ConfigError
from qscaler.sim.scenario_file import load_scenario
from qscaler.sim.world import Scenario

SHIPPED = Path(__file__).parents[2] / "bench" / "traces"


def test_without_a_file_a_trace_runs_in_the_default_scenario(tmp_path: Path) -> None:
    assert load_scenario(tmp_path / "plain.csv") == Scenario()


def test_the_cron_trace_ships_with_its_scenario() -> None:
    scenario = load_scenario(SHIPPED / "cron.csv")
    assert (scenario.startup_seconds, scenario.service_rate, scenario.score_from) == (60, 5, 2700)
    assert scenario.slo_seconds == Scenario().slo_seconds


def test_overrides_win_and_none_means_not_given(tmp_path: Path) -> None:
    (tmp_path / "t.scenario.yaml").write_text("service_rate: 5\nstartup_seconds: 60\n")
    scenario = load_scenario(tmp_path / "t.csv", {"service_rate": 20.0, "startup_seconds": None})
    assert (scenario.service_rate, scenario.startup_seconds) == (20.0, 60)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("startup: 60\n", "unknown scenario key 'startup'", id="unknown key"),
        pytest.param("service_rate: fast\n", "service_rate must be a number", id="not a number"),
        pytest.param("score_from: 2.5\n", "score_from must be a whole number", id="not whole"),
        pytest.param("[1, 2]\n", "expected a mapping", id="not a mapping"),
        pytest.param("a: [\n", "cannot read scenario", id="not yaml"),
        pytest.param("service_rate: 0\n", "service_rate must be > 0", id="invalid value"),
    ],
)
def test_a_bad_scenario_file_is_one_config_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.scenario.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_scenario(tmp_path / "t.csv")
