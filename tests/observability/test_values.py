"""A real run exports the right values, not only the right names.

The broker run of conftest.py has a known setup (50 ready messages on
`orders`, 8 held unacknowledged on `busy`, 7 + 3 on the `jobs-*` queues, an
invalid binding, a missing vhost), so what an operator reads off the
dashboard can be asserted exactly: through a real scrape of the process,
through /status and `qscaler status`, and through the registry of the same
runtime built in-process on the same bindings and broker.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from qscaler import __version__
from qscaler.app import build_runtime
from qscaler.settings import load_settings
from tests.harness.rabbitmq import Broker
from tests.observability.conftest import BrokerRun

#: qscaler's scrape and status; the broker's version does not enter.
pytestmark = [pytest.mark.rabbitmq, pytest.mark.rabbitmq_one_version]


def shop(workload: str, **labels: str) -> dict[str, str]:
    return {"namespace": "shop", "workload": workload, "kind": "Deployment", **labels}


def test_queue_view_replicas_and_decisions_in_a_real_scrape(broker_run: BrokerRun) -> None:
    q = broker_run.qscaler
    assert q.metric("qscaler_queue_messages", **shop("orders", state="ready")) == 50
    assert q.metric("qscaler_queue_messages", **shop("busy", state="unacknowledged")) == 8
    assert q.metric("qscaler_queue_consumers", **shop("busy")) == 1
    assert q.metric("qscaler_queue_messages", **shop("jobs", state="ready")) == 10
    assert q.metric("qscaler_queues_matched", **shop("jobs")) == 2
    assert q.metric("qscaler_queue_ack_messages_per_second", **shop("orders")) is not None
    assert q.metric("qscaler_queue_publish_messages_per_second", **shop("orders")) is not None

    # 50 messages at 10 per replica want 5; max-replicas is 3. Dry run: nothing written.
    assert q.metric("qscaler_replicas_current", **shop("orders")) == 1
    assert q.metric("qscaler_replicas_desired", **shop("orders")) == 3
    assert q.metric("qscaler_replicas_max", **shop("orders")) == 3
    assert q.metric("qscaler_replicas_applied", **shop("orders")) is None
    assert q.metric("qscaler_held_back", **shop("orders", reason="AtMax")) == 1
    assert q.metric("qscaler_held_back", **shop("orders", reason="DryRun")) == 1
    assert (
        q.metric("qscaler_decisions_total", **shop("orders", direction="up", reason="AtMax")) or 0
    ) >= 1
    assert (
        q.metric("qscaler_decisions_total", **shop("jobs", direction="up", reason="ScaleFromZero"))
        or 0
    ) >= 1
    # Nothing to write: applied is what is there.
    assert q.metric("qscaler_replicas_applied", **shop("idle")) == 1
    assert q.metric("qscaler_replicas_desired", **shop("jobs")) == 1


def test_errors_in_a_real_scrape(broker_run: BrokerRun) -> None:
    q, missing = broker_run.qscaler, broker_run.missing_vhost
    errors = q.metric("qscaler_source_errors_total", broker="default", vhost=missing, kind="error")
    reads = q.metric("qscaler_source_reads_total", broker="default", vhost=missing)
    assert errors is not None
    assert reads is not None
    assert errors >= 1
    assert reads >= errors
    assert (
        q.metric("qscaler_last_successful_poll_timestamp_seconds", broker="default", vhost=missing)
        is None
    )
    assert q.metric(
        "qscaler_last_successful_poll_timestamp_seconds", broker="default", vhost=broker_run.vhost
    )
    assert (
        q.metric("qscaler_decisions_total", **shop("lost", direction="none", reason="SourceError"))
        or 0
    ) >= 1
    assert q.metric("qscaler_held_back", **shop("lost", reason="SourceError")) == 1
    assert q.metric("qscaler_invalid_bindings") == 1
    assert q.metric("qscaler_binding_valid", **shop("broken")) == 0
    assert q.metric("qscaler_binding_valid", **shop("orders")) == 1
    assert q.metric("qscaler_workloads") == 6


def test_loop_health_in_a_real_scrape(broker_run: BrokerRun) -> None:
    q = broker_run.qscaler
    assert q.metric("qscaler_leader") == 1  # no election without a cluster
    assert (q.metric("qscaler_cycle_duration_seconds_count") or 0) >= 1
    # One scrape: a cycle may end between two, and count one more.
    samples = dict(line.rsplit(" ", 1) for line in q.metrics().splitlines() if line[:1] != "#")
    assert (
        samples['qscaler_cycle_duration_seconds_bucket{le="+Inf"}']
        == samples["qscaler_cycle_duration_seconds_count"]
    )
    build = [line for line in q.metrics().splitlines() if line.startswith("qscaler_build_info{")]
    assert len(build) == 1
    assert f'version="{__version__}"' in build[0]
    assert build[0].endswith(" 1.0")


def test_status_and_qscaler_status_tell_the_same_story(broker_run: BrokerRun) -> None:
    status_code, _ = broker_run.qscaler.get("/status")
    assert status_code == 200
    document = broker_run.qscaler.get("/status")[1]
    import json

    workloads = {w["workload"]: w for w in json.loads(document)["workloads"]}
    orders = workloads["orders"]
    assert orders["decision"]["desired"] == 3
    assert orders["reason"] == "AtMax"
    assert orders["observation"]["messages_ready"] == 50
    assert "max-replicas" in workloads["broken"]["error"]
    assert workloads["lost"]["reason"] == "SourceError"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "qscaler",
            "status",
            "--url",
            f"http://127.0.0.1:{broker_run.qscaler.port}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 1, done.stderr  # "broken" and "lost" have Warning reasons
    table = done.stdout
    row = next(line for line in table.splitlines() if line.startswith("shop/orders"))
    assert "1 → 3" in row
    assert "AtMax" in row
    assert "50" in row.split()


def test_the_registry_of_an_in_process_runtime_agrees_with_the_scrape(
    broker: Broker, broker_run: BrokerRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same bindings file, same broker, the registry read directly: the scrape
    is not hiding or rounding anything."""
    for key, value in broker_run.qscaler.env.items():
        if key.startswith("QSCALER_"):
            monkeypatch.setenv(key, value)
    registry = CollectorRegistry()
    assert broker_run.qscaler.bindings is not None
    runtime = build_runtime(
        load_settings(dry_run=True, leader_election=False),
        bindings=Path(broker_run.qscaler.bindings),
        serve_http=False,
        registry=registry,
    )
    try:
        runtime.controller.cycle()
    finally:
        runtime.stop()
    for name, labels in [
        ("qscaler_queue_messages", shop("orders", state="ready")),
        ("qscaler_queue_messages", shop("busy", state="unacknowledged")),
        ("qscaler_replicas_desired", shop("orders")),
        ("qscaler_replicas_desired", shop("jobs")),
        ("qscaler_held_back", shop("orders", reason="AtMax")),
        ("qscaler_binding_valid", shop("broken")),
        ("qscaler_invalid_bindings", {}),
        ("qscaler_workloads", {}),
    ]:
        assert registry.get_sample_value(name, labels) == broker_run.qscaler.metric(
            name, **labels
        ), name
    assert (
        registry.get_sample_value(
            "qscaler_decisions_total", shop("orders", direction="up", reason="AtMax")
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "qscaler_source_errors_total",
            {"broker": "default", "vhost": broker_run.missing_vhost, "kind": "error"},
        )
        == 1
    )
