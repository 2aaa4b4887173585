"""`qscaler demo`: the real loop, live, against the simulated world."""

from __future__ import annotations

import io
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from qscaler.cli import main
from qscaler.sim.demo import DemoOptions, Frame, View, default_trace, run_demo
from qscaler.sim.policy_file import load_policy
from qscaler.sim.trace import Trace


def short_trace() -> Trace:
    """Five minutes with a step: enough for a scale-up and a scale-down."""
    return Trace("short", (10.0,) * 60 + (80.0,) * 120 + (10.0,) * 120)


def test_demo_at_full_speed_prints_a_summary_and_draws_a_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "short.csv"
    trace.write_text(
        "t,publish_rate\n" + "".join(f"{t},{r:g}\n" for t, r in enumerate(short_trace().rates))
    )
    chart = tmp_path / "demo.png"
    args = [
        "demo",
        "--trace",
        str(trace),
        "--speed",
        "0",
        "--chart",
        str(chart),
        "--metrics-port",
        "0",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "qscaler demo: trace short (00:05:00), as fast as possible" in out
    assert "00:01:00  publish" in out  # one line per simulated minute when not a TTY
    assert "qscaler / best-tuned KEDA: replica-seconds" in out
    assert "best of the grid" in out
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_the_demo_serves_metrics_while_it_runs(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scraped: list[str] = []

    def sleep(_: float) -> None:  # called once per simulated second when speed > 0
        if not scraped:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                scraped.append(r.read().decode())

    ticks = iter(range(10**9))
    options = DemoOptions(
        trace=short_trace(), policy=load_policy(None), speed=1e6,
        metrics_address="127.0.0.1", metrics_port=port,
    )  # fmt: skip
    out = io.StringIO()
    result = run_demo(options, out, clock=lambda: float(next(ticks)), sleep=sleep)
    assert f"metrics on http://127.0.0.1:{port}/metrics" in out.getvalue()
    assert "qscaler_replicas_desired" in scraped[0]
    assert result.qscaler.scores.replica_seconds > 0
    with pytest.raises(urllib.error.URLError):  # the server is stopped at the end
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_busy_metrics_port_is_reported_not_fatal() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = DemoOptions(
            trace=short_trace(), policy=load_policy(None), speed=0,
            metrics_address="127.0.0.1", metrics_port=port,
        )  # fmt: skip
        out = io.StringIO()
        run_demo(options, out)
    assert "not serving metrics" in out.getvalue()
    assert "replica-seconds" in out.getvalue()


def test_on_a_terminal_the_panel_is_redrawn_in_place() -> None:
    out = io.StringIO()
    clock = iter([0.0, 0.0, 1.0, 1.0])
    view = View(out, tty=True, clock=lambda: next(clock))
    frame = Frame(now=65, length=3600, publish_rate=42.0, backlog=120, requested=5, ready=4,
                  reason="ScaleUp: arrivals 40.0/s")  # fmt: skip
    assert view.due(65)
    view.show(frame)
    assert view.due(66)
    view.show(frame)
    text = out.getvalue()
    assert "\x1b[7F" in text  # the second frame moves back over the seven lines of the first
    assert "time      00:01:05 / 01:00:00" in text
    assert "replicas         5 requested, 4 ready" in text
    assert "decision  ScaleUp: arrivals 40.0/s" in text


def test_the_shipped_trace_lasts_an_hour() -> None:
    assert len(default_trace()) == 3600
