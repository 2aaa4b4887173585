"""Fixtures for end-to-end tests: deploy/'s RBAC applied to the real apiserver,
and qscaler processes that run under it against the real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.k8s import ControlPlane
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker

REPO = Path(__file__).resolve().parents[2]
QSCALER_NAMESPACE = "qscaler-system"


@pytest.fixture(scope="session")
def deployed(control_plane: ControlPlane) -> str:
    """deploy/base rendered with kustomize and server-side applied; returns the rendered YAML."""
    rendered = control_plane.kubectl("kustomize", str(REPO / "deploy" / "base"))
    control_plane.kubectl(
        "apply", "--server-side", "--field-manager=qscaler-e2e", "-f", "-", stdin=rendered
    )
    return rendered


@pytest.fixture(scope="session")
def qscaler_kubeconfig(
    control_plane: ControlPlane, deployed: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig holding a token of deploy/'s qscaler ServiceAccount: the e2e
    tests run qscaler with exactly the permissions a real install grants."""
    return control_plane.service_account_kubeconfig(
        QSCALER_NAMESPACE, "qscaler", tmp_path_factory.mktemp("sa")
    )


StartQscaler = Callable[..., QscalerProcess]


@pytest.fixture
def start_qscaler(
    broker: Broker, qscaler_kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[StartQscaler]:
    """Start `qscaler run` processes watching the test's namespace; all are stopped after."""
    started: list[QscalerProcess] = []

    def start(name: str = "a", **settings: str) -> QscalerProcess:
        env = {
            "QSCALER_KUBECONFIG": str(qscaler_kubeconfig),
            "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
            "QSCALER_USERNAME": broker.user,
            "QSCALER_PASSWORD": broker.password,
            "QSCALER_POLL_INTERVAL_SECONDS": "1",
            "QSCALER_RATE_SMOOTHING_SECONDS": "0",
            "QSCALER_NAMESPACES": namespace,
            "QSCALER_LEASE_NAME": f"qscaler-{namespace}",
            "QSCALER_LEASE_NAMESPACE": QSCALER_NAMESPACE,
            "QSCALER_EVENT_REPEAT_SECONDS": "5",
            **{f"QSCALER_{k.upper()}": v for k, v in settings.items()},
        }
        process = QscalerProcess(tmp_path, name, env)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def consumer_annotations(vhost: str, queue: str, **extra: str) -> dict[str, str]:
    """A binding with the short cooldown the tests use."""
    annotations = {
        "qscaler.io/queues": queue,
        "qscaler.io/vhost": vhost,
        "qscaler.io/messages-per-replica": "10",
        "qscaler.io/cooldown": "5s",
        "qscaler.io/scale-down-limit": "100%",
    }
    annotations.update({f"qscaler.io/{k.replace('_', '-')}": v for k, v in extra.items()})
    return annotations


ENABLED = {"qscaler.io/enabled": "true"}
