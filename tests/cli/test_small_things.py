"""The small things that looked broken in a newcomer's first hour."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from qscaler.cli import kubectl_main, main
from qscaler.errors import SourceUnavailable
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.settings import unknown_variables
from qscaler.sim.demo import Frame, View
from tests.harness.k8s import bin_dir

REPO = Path(__file__).resolve().parents[2]


def test_an_unknown_setting_variable_is_warned_about_with_a_did_you_mean() -> None:
    warnings = unknown_variables(
        {
            "QSCALER_MANAGMENT_URL": "http://rabbit:15672",
            "QSCALER_SKIP_K8S": "1",  # the project's own test and build variables
            "QSCALER_RABBITMQ_STATS_INTERVAL_MS": "1000",
            "QSCALER_K8S_CACHE": "/c",
            "QSCALER_TOOLS_CACHE": "/c",
            "HOME": "/",
        }
    )
    assert warnings == [
        "QSCALER_MANAGMENT_URL is not a qscaler setting and is ignored; "
        "did you mean QSCALER_MANAGEMENT_URL?"
    ]
    assert unknown_variables({"QSCALER_PASSWORD_FILE": "/s", "QSCALER_KUBE_CONTEXT": "c"}) == []


@pytest.mark.parametrize(
    ("command", "variable", "meant"),
    [
        (["plan", "--bindings", str(REPO / "examples/bindings.yaml")],
         "QSCALER_MANAGMENT_URL", "QSCALER_MANAGEMENT_URL"),
        (["demo", "--speed", "0", "--no-chart", "--trace", str(REPO / "bench/traces/steady.csv")],
         "QSCALER_METRIC_PORT", "QSCALER_METRICS_PORT"),
    ],
)  # fmt: skip
def test_commands_warn_about_an_unknown_variable_on_stderr(
    command: list[str], variable: str, meant: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")}
    env.update(
        {variable: "1", "QSCALER_METRICS_PORT": "0", "QSCALER_MANAGEMENT_URL": "http://127.0.0.1:1"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "qscaler", *command],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert f"qscaler: warning: {variable} is not a qscaler setting" in done.stderr
    assert f"did you mean {meant}?" in done.stderr


def test_a_source_that_recovers_says_so_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    reporter = OutcomeRecorder(Metrics(CollectorRegistry()))
    with caplog.at_level(logging.INFO, "qscaler"):
        reporter.source_read("/", SourceUnavailable("refused"), at=1.0)
        reporter.source_read("/", SourceUnavailable("refused"), at=2.0)
        reporter.source_read("/", None, at=3.0)
        reporter.source_read("/", None, at=4.0)
    recovered = [r for r in caplog.records if r.name == "qscaler.source"]
    assert [r.getMessage() for r in recovered] == [
        "reading vhost '/' works again after 2 failed read(s)"
    ]


def test_piped_demo_lines_are_not_cut() -> None:
    reason = "ScaleUp: " + "the arithmetic, " * 20 + "end of the message"
    out = io.StringIO()
    View(out, tty=False, clock=lambda: 0.0).show(Frame(60, 3600, 10.0, 5.0, 2, 2, reason))
    assert out.getvalue().rstrip().endswith("end of the message")


def test_every_help_has_an_example_and_the_exit_codes_are_in_the_main_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in (
        "plan",
        "run",
        "status",
        "explain",
        "simulate",
        "bench",
        "demo",
        "loadgen",
        "import",
    ):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "example:" in text, command
        assert "exit status" in text, command
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "  1  a workload has a Warning reason" in text
    assert "  2  a usage or configuration error" in text


def test_the_kubectl_plugin_offers_status_plan_and_explain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        kubectl_main(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: kubectl qscaler [-h] [--version] COMMAND")
    listed = text.split("COMMAND\n", 1)[1].split("\n\n")[0]
    assert [line.split()[0] for line in listed.splitlines()] == ["plan", "status", "explain"]
    with pytest.raises(SystemExit) as exited:
        kubectl_main(["run"])
    assert exited.value.code == 2
    assert "invalid choice: 'run'" in capsys.readouterr().err


@pytest.mark.k8s
def test_kubectl_runs_the_plugin_as_kubectl_qscaler(tmp_path: Path) -> None:
    """The real kubectl finds `kubectl-qscaler` on the PATH and passes the exit status on."""
    if os.environ.get("QSCALER_SKIP_K8S") == "1":
        pytest.skip("QSCALER_SKIP_K8S=1: no kubectl binary")
    kubectl = bin_dir() / "kubectl"
    assert kubectl.exists(), f"{kubectl} missing: run tests/k8s/build.sh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path),
        QSCALER_MANAGEMENT_URL="http://127.0.0.1:1",  # nothing there: SourceError, exit 1
    )
    done = subprocess.run(
        [str(kubectl), "qscaler", "explain", "apps/orders-consumer",
         "--bindings", str(REPO / "examples/bindings.yaml")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.stdout.startswith("Workload:  apps/orders-consumer (Deployment)"), done.stderr
    assert "Held back: SourceError" in done.stdout
    assert done.returncode == 1
