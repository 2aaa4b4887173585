"""`qscaler loadgen` against the real broker, and its schedule arithmetic.

The loadgen's promise is about counts, not speed: after `--duration D` it has
published exactly what the schedule asks for by D (with confirms, so the
broker has every one), "consumed" counts acks, and what is left in the queue
is published minus consumed. The broker tests assert exactly that, reading
the queue through the management API with bounded waits; none asserts how
fast anything happened.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from qscaler import cli
from qscaler.errors import ConfigError
from qscaler.loadgen import Schedule, parse_rates
from tests.harness.rabbitmq import Broker, poll_until

#: the load generator is a pika client, the same on every version.
pytestmark = pytest.mark.rabbitmq_one_version

DONE = re.compile(r"^done: elapsed=[\d.]+s published=(\d+) consumed=(\d+)$", re.MULTILINE)


@pytest.fixture
def amqp_env(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> Broker:
    """The broker's address and credentials as the compose stack passes them: QSCALER_*."""
    monkeypatch.setenv("QSCALER_AMQP_URL", broker.amqp_url)
    monkeypatch.setenv("QSCALER_USERNAME", broker.user)
    monkeypatch.setenv("QSCALER_PASSWORD", broker.password)
    return broker


def _loadgen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, int, str]:
    """Run `qscaler loadgen ARGS`; (published, consumed, output)."""
    code = cli.main(["loadgen", *args])
    out = capsys.readouterr().out
    assert code == 0, out
    match = DONE.search(out)
    assert match, out
    return int(match.group(1)), int(match.group(2)), out


def _settled_depth(broker: Broker, vhost: str, queue: str, expected: int) -> int:
    """The queue's depth once the management API's statistics show `expected`."""
    messages = poll_until(
        f"queue {queue} to hold {expected} messages",
        lambda: (broker.queue(vhost, queue, columns="messages") or {}).get("messages"),
        lambda n: n == expected,
    )
    return cast(int, messages)  # poll_until returns it only once it equals `expected`


@pytest.mark.rabbitmq
def test_publishes_what_the_rate_asks_for(
    amqp_env: Broker, vhost: str, capsys: pytest.CaptureFixture[str]
) -> None:
    published, consumed, out = _loadgen(
        capsys, "--vhost", vhost, "--queue", "work", "--declare",
        "--publish-rate", "40", "--duration", "2",
    )  # fmt: skip
    assert (published, consumed) == (80, 0)
    assert "elapsed=1.0s published=" in out, "a line per second"
    assert _settled_depth(amqp_env, vhost, "work", 80) == 80


@pytest.mark.rabbitmq
def test_queue_holds_published_minus_consumed(
    amqp_env: Broker, vhost: str, capsys: pytest.CaptureFixture[str]
) -> None:
    amqp_env.declare_queues(vhost, "work", durable=True)
    amqp_env.publish(vhost, "work", 50)
    published, consumed, _ = _loadgen(
        capsys, "--vhost", vhost, "--queue", "work",
        "--publish-rate", "30", "--consumers", "2", "--processing-time", "0.02",
        "--prefetch", "5", "--duration", "2",
    )  # fmt: skip
    assert published == 60
    assert consumed > 0
    assert consumed <= 50 + published
    left = 50 + published - consumed
    assert _settled_depth(amqp_env, vhost, "work", left) == left


@pytest.mark.rabbitmq
def test_consume_rate_caps_the_acks(
    amqp_env: Broker, vhost: str, capsys: pytest.CaptureFixture[str]
) -> None:
    amqp_env.declare_queues(vhost, "work", durable=True)
    amqp_env.publish(vhost, "work", 100)
    published, consumed, _ = _loadgen(
        capsys, "--vhost", vhost, "--queue", "work",
        "--consumers", "3", "--consume-rate", "10", "--duration", "2",
    )  # fmt: skip
    assert published == 0
    assert 0 < consumed <= 20, "at most 10/s over 2 s, whatever the speed of the machine"
    assert _settled_depth(amqp_env, vhost, "work", 100 - consumed) == 100 - consumed


@pytest.mark.rabbitmq
def test_follows_a_trace(
    amqp_env: Broker, vhost: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "burst.csv"
    trace.write_text("t,publish_rate\n0,25\n1,0\n2,5\n")
    published, _, _ = _loadgen(
        capsys, "--vhost", vhost, "--queue", "work", "--declare",
        "--trace", str(trace), "--duration", "2",
    )  # fmt: skip
    assert published == 25, "25 in the first second, none in the second"
    assert _settled_depth(amqp_env, vhost, "work", 25) == 25


@pytest.mark.rabbitmq
@pytest.mark.rabbitmq
def test_sigterm_stops_it_like_ctrl_c(amqp_env: Broker, vhost: str) -> None:
    """`docker stop` sends SIGTERM to PID 1, which ignores what it does not handle."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qscaler",
            "loadgen",
            "--vhost",
            vhost,
            "--queue",
            "work",
            "--declare",
            "--publish-rate",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # a progress line: the run has started
    assert first.startswith("elapsed="), first
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=60)[0]
    assert process.returncode == 0, rest  # without a handler: -15
    assert DONE.search(rest), rest


def test_missing_queue_is_a_usage_error(
    amqp_env: Broker, vhost: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["loadgen", "--vhost", vhost, "--queue", "absent", "--publish-rate", "1"])
    assert code == 2
    assert "pass --declare" in capsys.readouterr().err
    assert amqp_env.queue(vhost, "absent") is None


def test_unreachable_broker_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QSCALER_PASSWORD", "not-printed")
    code = cli.main(
        ["loadgen", "--url", "amqp://127.0.0.1:1", "--queue", "q", "--publish-rate", "1"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot connect to amqp://127.0.0.1:1" in err
    assert "not-printed" not in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--queue", "q"], id="nothing-to-do"),
        pytest.param(["--queue", "q", "--consume-rate", "5"], id="rate-without-consumers"),
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["loadgen", *args]) == 2
    assert capsys.readouterr().err.startswith("qscaler: ")


# --- the schedule: how many messages are due by when --------------------------------------


@pytest.mark.parametrize(
    ("rates", "elapsed", "due"),
    [
        pytest.param((10.0,), 0.0, 0, id="nothing-at-start"),
        pytest.param((10.0,), 0.25, 2, id="constant-within-a-second"),
        pytest.param((10.0,), 3.0, 30, id="constant-exact"),
        pytest.param((0.5,), 3.0, 1, id="slow-rate-rounds-down"),
        pytest.param((25.0, 0.0, 5.0), 1.0, 25, id="trace-first-second"),
        pytest.param((25.0, 0.0, 5.0), 2.0, 25, id="trace-quiet-second"),
        pytest.param((25.0, 0.0, 5.0), 2.5, 27, id="trace-linear-inside-a-second"),
        pytest.param((25.0, 0.0, 5.0), 4.0, 55, id="trace-repeats"),
    ],
)
def test_schedule_due(rates: tuple[float, ...], elapsed: float, due: int) -> None:
    assert Schedule(rates).due(elapsed) == due


def test_schedule_never_decreases() -> None:
    schedule = Schedule((3.0, 0.0, 7.5, 1.0))
    counts = [schedule.due(t / 10) for t in range(200)]
    assert counts == sorted(counts)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("time,rate\n0,1\n", "header", id="wrong-header"),
        pytest.param("t,publish_rate\n", "no rows", id="no-rows"),
        pytest.param("t,publish_rate\n0,1\n2,1\n", "line 3", id="gap-in-t"),
        pytest.param("t,publish_rate\n0,-1\n", "line 2", id="negative-rate"),
        pytest.param("t,publish_rate\n0,fast\n", "line 2", id="not-a-number"),
    ],
)
def test_trace_errors_name_the_line(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_rates(text.splitlines(keepends=True), "trace.csv")


def test_benchmark_traces_parse() -> None:
    traces = sorted(
        (Path(__file__).resolve().parents[2] / "qscaler" / "sim" / "traces").glob("*.csv")
    )
    assert traces
    for trace in traces:
        assert parse_rates(trace.read_text().splitlines(keepends=True), trace.name)
