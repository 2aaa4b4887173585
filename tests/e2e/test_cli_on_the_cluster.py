"""The command line against the real API server: kubectl's flags, exit codes,
and `qscaler status` through the API server's service proxy.

The service proxy's success path is not exercised here: the API server only
proxies to an address that is a Pod's IP (and never to loopback), and kwok's
fake pods serve nothing. What runs here is everything up to that hop, on the
real API server with real RBAC: the proxy request qscaler builds, and the
one-line answers for a missing Service, a Service with no qscaler behind it,
and a user without `services/proxy`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import ENABLED, consumer_annotations
from tests.harness.k8s import ControlPlane
from tests.harness.rabbitmq import Broker

pytestmark = [pytest.mark.k8s, pytest.mark.rabbitmq]


def qscaler(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QSCALER_", "KUBECONFIG"))}
    return subprocess.run(
        [sys.executable, "-m", "qscaler", *args],
        capture_output=True, text=True, env={**clean, **env}, timeout=120, check=False,
    )  # fmt: skip


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def context_of(kubeconfig: Path) -> str:
    return str(yaml.safe_load(kubeconfig.read_text())["current-context"])


def test_plan_takes_kubectls_flags_and_exits_1_on_a_missing_queue(
    control_plane: ControlPlane, broker: Broker, vhost: str, namespace: str
) -> None:
    """--kubeconfig, --context and -n as kubectl reads them; only labelled
    workloads of that namespace; a QueueMissing is exit 1."""
    broker.declare_queues(vhost, "work")
    control_plane.deployment(namespace, "worker", 1, consumer_annotations(vhost, "work"), ENABLED)
    control_plane.deployment(namespace, "typo", 1, consumer_annotations(vhost, "wrok"), ENABLED)
    control_plane.deployment(namespace, "unlabelled", 1, consumer_annotations(vhost, "work"))
    other = control_plane.namespace()
    control_plane.deployment(other, "elsewhere", 1, consumer_annotations(vhost, "work"), ENABLED)
    kubeconfig = control_plane.kubeconfig
    done = qscaler(
        "plan", "--kubeconfig", str(kubeconfig), "--context", context_of(kubeconfig),
        "-n", namespace, "--output", "json",
        QSCALER_MANAGEMENT_URL=broker.mgmt_url, QSCALER_USERNAME=broker.user,
        QSCALER_PASSWORD=broker.password,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    rows = {w["workload"]: w for w in json.loads(done.stdout)["workloads"]}
    assert sorted(rows) == ["typo", "worker"]
    assert rows["typo"]["reason"] == "QueueMissing"
    assert rows["typo"]["warning"] is True
    assert rows["worker"]["warning"] is False


def test_status_through_the_service_proxy_says_what_is_missing(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    kubeconfig = str(control_plane.kubeconfig)
    absent = qscaler("status", "--kubeconfig", kubeconfig, "--service", f"{namespace}/qscaler")
    assert f"no Service {namespace}/qscaler" in one_line(absent)
    assert absent.returncode == 2

    control_plane.core().create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "qscaler"},
            "spec": {
                "selector": {"app": "no-such-pod"},
                "ports": [{"name": "http", "port": 8080, "targetPort": 8080}],
            },
        },
    )
    nobody = qscaler("status", "--kubeconfig", kubeconfig, "--service", f"{namespace}/qscaler")
    assert "has no ready qscaler behind it" in one_line(nobody)
    assert nobody.returncode == 2

    control_plane.core().create_namespaced_service_account(
        namespace, {"metadata": {"name": "viewer"}}
    )
    viewer = control_plane.service_account_kubeconfig(namespace, "viewer", tmp_path)
    denied = qscaler("status", "--kubeconfig", str(viewer), "--service", f"{namespace}/qscaler")
    line = one_line(denied)
    assert "HTTP 403" in line or "forbidden" in line
    assert "services/proxy" in line
    assert denied.returncode == 2

    # The README's two commands grant exactly this; then the request passes RBAC.
    control_plane.kubectl(
        "-n", namespace, "create", "role", "qscaler-status", "--verb=get",
        "--resource=services/proxy", "--resource-name=qscaler:http",
    )  # fmt: skip
    control_plane.kubectl(
        "-n", namespace, "create", "rolebinding", "qscaler-status", "--role=qscaler-status",
        f"--serviceaccount={namespace}:viewer",
    )  # fmt: skip
    allowed = qscaler("status", "--kubeconfig", str(viewer), "--service", f"{namespace}/qscaler")
    line = one_line(allowed)
    assert "403" not in line  # past RBAC; the viewer may not read the Service to say more
    assert "no qscaler behind it" in line


def test_explain_through_the_default_service_without_qscaler_installed_is_one_line(
    control_plane: ControlPlane,
) -> None:
    """The default: qscaler-system/qscaler-metrics, as deploy/base names it."""
    done = qscaler("explain", "orders", "-n", "apps", KUBECONFIG=str(control_plane.kubeconfig))
    line = one_line(done)
    # Without deploy/base: no Service. With it (other tests apply it), kwok's
    # pods have addresses nothing serves: the proxy's hop fails. One line either way.
    assert "qscaler-system/qscaler-metrics" in line or "services/proxy" in line
    assert done.returncode == 2
