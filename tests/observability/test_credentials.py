"""The RabbitMQ password never leaves the process through what it reports.

qscaler is run with a password that is easy to spot, through the failures
that put connection details into messages: the broker refusing the password
(kind `auth`) and the broker being down (kind `unavailable`, with the
password also in the URL's userinfo, a common way to write it), on both the
management and the AMQP source, with JSON and text logs. After the errors
have been reported on every channel (counted in /metrics, listed in
/status, logged), the password must appear in none of them. The same check
runs on Kubernetes Events in test_references_exported.py's cluster run.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.harness.qscaler_process import free_port
from tests.harness.rabbitmq import Broker, poll_until
from tests.observability.conftest import binding, start_bindings_run

#: what qscaler writes to its own metrics, status and logs; the broker's version does not enter.
pytestmark = [pytest.mark.rabbitmq, pytest.mark.rabbitmq_one_version]

CANARY = f"S3cr3t-Canary-{secrets.token_hex(4)}"


def settings(case: str, broker: Broker) -> tuple[dict[str, str], str]:
    """The QSCALER_* settings of one failure, and the error kind it must produce."""
    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    cases = {
        "management-wrong-password": (
            {"source": "management", "management_url": broker.mgmt_url, "log_format": "json"},
            "auth",
        ),
        "management-broker-down": (
            {
                "source": "management",
                "management_url": f"http://{broker.user}:{CANARY}@{down}",
                "log_format": "text",
            },
            "unavailable",
        ),
        "amqp-wrong-password": (
            {"source": "amqp", "amqp_url": broker.amqp_url, "log_format": "text"},
            "auth",
        ),
        "amqp-broker-down": (
            {
                "source": "amqp",
                "amqp_url": f"amqp://{broker.user}:{CANARY}@{down}",
                "log_format": "json",
            },
            "unavailable",
        ),
    }
    chosen, kind = cases[case]
    return {
        **chosen,
        "username": broker.user,
        "password": CANARY,
        "request_timeout_seconds": "2",
    }, kind


@pytest.mark.parametrize(
    "case",
    [
        "management-wrong-password",
        "management-broker-down",
        "amqp-wrong-password",
        "amqp-broker-down",
    ],
)
def test_the_password_is_in_no_metric_status_or_log_line(
    case: str, broker: Broker, vhost: str, tmp_path: Path
) -> None:
    broker.declare_queues(vhost, "orders")
    chosen, kind = settings(case, broker)
    qscaler = start_bindings_run(
        broker, tmp_path, [binding("orders", vhost, queues="orders")], **chosen
    )
    try:
        poll_until(
            f"two {kind} errors reported",
            lambda: (
                qscaler.metric(
                    "qscaler_source_errors_total", broker="default", vhost=vhost, kind=kind
                )
                or 0
            ),
            lambda errors: errors >= 2,
            timeout=60,
        )
        metrics, status, logs = qscaler.metrics(), qscaler.get("/status")[1], qscaler.logs()
    finally:
        qscaler.stop()
    # The failure was reported on every channel, so its absence below means something.
    assert json.loads(status)["cycle"]["source_errors"][vhost]
    assert f"reading vhost '{vhost}' failed" in logs
    assert "SourceError" in logs
    for channel, text in (("/metrics", metrics), ("/status", status), ("log", logs)):
        assert CANARY not in text, f"the password leaked into {channel}"
