"""`qscaler simulate` and `qscaler bench` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from qscaler.cli import main
from qscaler.sim.report import BEGIN, END

SCORE_NAMES = [
    "replica_seconds", "busy_seconds", "utilization", "p50_wait", "p95_wait", "p99_wait",
    "max_wait", "slo_met", "max_backlog", "scale_changes", "reversals",
    "pod_starts",
]  # fmt: skip


def write_trace(path: Path, rates: list[float]) -> Path:
    path.write_text("t,publish_rate\n" + "".join(f"{t},{r:g}\n" for t, r in enumerate(rates)))
    return path


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    """Ten minutes: quiet, a step to 60/s, quiet again."""
    return write_trace(tmp_path / "step.csv", [5.0] * 120 + [60.0] * 300 + [5.0] * 180)


def simulate_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["simulate", *args, "--output", "json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.mark.parametrize("controller", ["qscaler", "keda", "onfido", "static"])
def test_simulate_json_has_exactly_the_spec_scores(
    trace: Path, controller: str, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = simulate_json(capsys, str(trace), "--controller", controller)
    assert list(scores) == SCORE_NAMES
    assert scores["slo_met"] in (True, False)


def test_simulate_keda_with_a_param_is_that_setting(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = simulate_json(capsys, str(trace), "--controller", "keda", "--param", "1")
    large = simulate_json(capsys, str(trace), "--controller", "keda", "--param", "1000")
    assert small != large


def test_simulate_keda_knobs_change_the_run(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keda = [str(trace), "--controller", "keda", "--param", "20"]
    plain = simulate_json(capsys, *keda)
    same = simulate_json(capsys, *keda, "--keda-mode", "QueueLength", "--keda-polling", "30")
    no_window = simulate_json(capsys, *keda, "--keda-window", "0", "--keda-polling", "5")
    by_rate = simulate_json(capsys, *keda, "--keda-mode", "MessageRate")
    assert plain == same  # the defaults are the plain keda controller
    # scales down sooner (replica_seconds is a number in the JSON report: cast to compare)
    assert cast(float, no_window["replica_seconds"]) < cast(float, plain["replica_seconds"])
    assert by_rate != plain


def test_a_trace_runs_in_its_own_scenario_unless_a_flag_says_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(tmp_path / "batch.csv", [20.0] * 100)
    (tmp_path / "batch.scenario.yaml").write_text("service_rate: 5\nscore_from: 40\n")
    own = simulate_json(capsys, str(trace), "--controller", "static")
    flagged = simulate_json(
        capsys, str(trace), "--controller", "static", "--service-rate", "10", "--score-from", "0"
    )
    assert (own["replica_seconds"], flagged["replica_seconds"]) == (4 * 60, 2 * 100)


def test_simulate_scenario_flags_change_the_run(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = simulate_json(capsys, str(trace), "--controller", "static", "--service-rate", "20")
    slow = simulate_json(capsys, str(trace), "--controller", "static", "--service-rate", "10")
    assert (fast["replica_seconds"], slow["replica_seconds"]) == (3 * 600, 6 * 600)


def test_simulate_table_names_the_controller_and_setting(
    trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "step: 600 s, qscaler with default policy" in out
    assert "replica-s" in out


def test_policy_keys_with_and_without_prefix_are_the_same_policy(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text("target-drain-seconds: 30\ncooldown: 60s\ntolerance: 0.2\n")
    prefixed = tmp_path / "prefixed.yaml"
    prefixed.write_text(
        "qscaler.io/target-drain-seconds: '30'\nqscaler.io/cooldown: 60s\n"
        "qscaler.io/tolerance: '0.2'\n"
    )
    assert simulate_json(capsys, str(trace), "--policy", str(bare)) == simulate_json(
        capsys, str(trace), "--policy", str(prefixed)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--param", "5"], "--param sets keda's value", id="param-for-qscaler"),
        pytest.param(["--controller", "keda", "--param", "0"], "above 0", id="param-zero"),
        pytest.param(["--service-rate", "0"], "service_rate must be > 0", id="bad-scenario"),
        pytest.param(["--min-replicas", "9", "--max-replicas", "3"], "min_replicas", id="bounds"),
        pytest.param(["--chart", "run.jpg"], "use a .png or .svg", id="chart-format"),
        pytest.param(["--keda-window", "-1"], "window must be ≥ 0", id="keda-window"),
        pytest.param(["--keda-polling", "0"], "pollingInterval must be ≥ 1", id="keda-polling"),
        pytest.param(["--score-from", "-5"], "score_from must be ≥ 0", id="score-from"),
    ],
)
def test_simulate_refuses_bad_input_with_one_line(
    trace: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", str(trace), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_an_invalid_policy_names_the_file_and_the_annotation(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("target-drain-secnds: 30\n")
    assert main(["simulate", str(trace), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert str(policy) in err
    assert "did you mean qscaler.io/target-drain-seconds" in err


def test_simulate_draws_a_chart_with_the_competitor(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "run.svg"
    assert main(["simulate", str(trace), "--chart", str(chart), "--compare", "keda"]) == 0
    svg = chart.read_text()
    assert svg.startswith("<?xml")
    assert "keda" in svg


def test_bench_on_a_tiny_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    write_trace(traces / "flat.csv", [20.0] * 300)
    write_trace(traces / "burst.csv", [2.0] * 100 + [200.0] * 10 + [2.0] * 190)
    output = tmp_path / "docs" / "bench.md"
    output.parent.mkdir()
    output.write_text(
        f"# Results\n\nHand-written prose.\n\n{BEGIN}\nold tables\n{END}\n\nMore prose.\n"
    )
    charts = tmp_path / "docs" / "charts"
    args = ["bench", str(traces), "--output", str(output), "--charts", str(charts)]
    assert main(args) == 0
    text = output.read_text()
    assert "old tables" not in text
    assert text.startswith("# Results\n\nHand-written prose.")
    assert text.rstrip().endswith("More prose.")
    summary = [line for line in text.splitlines() if line.startswith(("| flat", "| burst"))]
    assert len(summary) == 6  # one row per trace in each of the three summaries, in name order
    assert summary[0].startswith("| burst")
    assert "| dominated_by | cost_at_equal_latency | starts_at_equal_latency |" in text
    for controller in ("keda", "keda-tuned", "onfido", "static", "qscaler-backlog", "qscaler"):
        assert f"| {controller} |" in text
    assert sorted(p.name for p in charts.iterdir()) == ["burst.png", "flat.png", "pareto.png"]
    assert "](charts/pareto.png)" in text
    assert "### Pod starts" in text
    assert "](charts/flat.png)" in text
    assert "### Summary" in capsys.readouterr().out


def test_bench_without_traces_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", str(tmp_path)]) == 2
    assert "no *.csv traces" in capsys.readouterr().err


def test_the_policy_files_bounds_hold_unless_a_flag_overrides_them(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`max-replicas: 2` in the policy bounds the run; `--max-replicas` overrides it."""
    policy = tmp_path / "small.yaml"
    policy.write_text("target-drain-seconds: 60\nmin-replicas: 1\nmax-replicas: 2\n")
    bounded = simulate_json(capsys, str(trace), "--policy", str(policy))
    assert bounded["replica_seconds"] <= 2 * 600  # type: ignore[operator]
    widened = simulate_json(capsys, str(trace), "--policy", str(policy), "--max-replicas", "50")
    assert widened["replica_seconds"] > 2 * 600  # type: ignore[operator]


def test_a_policy_bound_that_is_not_a_number_is_one_line(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("target-drain-seconds: 60\nmax-replicas: lots\n")
    assert main(["simulate", str(trace), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert "max-replicas" in err
    assert err.count("\n") == 1
