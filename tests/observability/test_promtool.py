"""The alert rules are valid for Prometheus itself, and fire when they should.

promtool is Prometheus' own checker: tools/promtool/build.sh unpacks it from
Debian's `prometheus` package (2.42) into a cache outside the repository, in
seconds. `check rules`
parses every expression with Prometheus' parser and lints the file; `test
rules` replays the series of qscaler-rules.test.yaml through the rules and
compares the alerts that fire, with their labels and rendered annotations.

If promtool cannot be had these tests fail with the script's output; set
QSCALER_SKIP_PROMTOOL=1 to skip them instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.observability.conftest import REPO, RULES

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def promtool() -> Path:
    if os.environ.get("QSCALER_SKIP_PROMTOOL") == "1":
        pytest.skip("QSCALER_SKIP_PROMTOOL=1: promtool checks skipped")
    build = subprocess.run(
        [str(REPO / "tools" / "promtool" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(
            "tools/promtool/build.sh failed (QSCALER_SKIP_PROMTOOL=1 skips these tests):\n"
            f"{build.stderr}\n{build.stdout}",
            pytrace=False,
        )
    return Path(build.stdout.strip().splitlines()[-1])


def run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO
    )


def test_promtool_checks_and_lints_the_rules(promtool: Path) -> None:
    checked = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"])
    assert f"SUCCESS: {rules} rules found" in checked.stdout


def test_promtool_accepts_the_example_prometheus_config(promtool: Path) -> None:
    checked = run(
        promtool, "check", "config", str(REPO / "deploy" / "prometheus" / "prometheus.yml")
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alerts_fire_on_incidents_and_stay_quiet_on_look_alikes(promtool: Path) -> None:
    tested = run(promtool, "test", "rules", str(HERE / "qscaler-rules.test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_would_catch_a_broken_rule(promtool: Path, tmp_path: Path) -> None:
    """The check above means something only if promtool rejects a bad file."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        RULES.read_text().replace("max(qscaler_leader) < 1", "max(qscaler_leader < 1", 1)
    )
    checked = run(promtool, "check", "rules", str(broken))
    assert checked.returncode != 0
