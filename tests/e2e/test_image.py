"""`qscaler run` from the image, in a container, scaling a Deployment on the
real control plane: the image, deploy/base's RBAC and the in-cluster
configuration, together.

The container gets what a pod of deploy/base gets: the ServiceAccount's token,
the cluster CA and the namespace mounted at
/var/run/secrets/kubernetes.io/serviceaccount, and KUBERNETES_SERVICE_HOST/PORT
pointing at the API server. No kubeconfig: the client's in-cluster path is the
one taken. The container runs confined as deploy/base runs it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ENABLED, QSCALER_NAMESPACE, consumer_annotations
from tests.harness.docker import DockerEngine, readable_dir
from tests.harness.k8s import ControlPlane, wait_for
from tests.harness.qscaler_process import free_port
from tests.harness.rabbitmq import Broker

# The image, not the broker, is under test: one broker version is enough.
pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("3.10.8"),
]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def service_account_volume(plane: ControlPlane, directory: Path) -> Path:
    """The files the kubelet mounts into a pod of deploy/base's ServiceAccount."""
    readable_dir(directory)
    (directory / "token").write_text(plane.service_account_token(QSCALER_NAMESPACE, "qscaler"))
    shutil.copyfile(plane.ca_file, directory / "ca.crt")
    (directory / "namespace").write_text(QSCALER_NAMESPACE)
    for file in directory.iterdir():
        file.chmod(0o644)
    return directory


def test_qscaler_run_in_the_image_scales_a_deployment(
    control_plane: ControlPlane,
    deployed: str,
    broker: Broker,
    vhost: str,
    namespace: str,
    docker_engine: DockerEngine,
    qscaler_image: str,
    tmp_path: Path,
) -> None:
    broker.declare_queues(vhost, "work")
    annotations = consumer_annotations(vhost, "work", max_replicas="6")
    control_plane.deployment(namespace, "worker", 1, annotations, ENABLED)
    api = urlsplit(control_plane.server)
    container = f"qscaler-{namespace}"
    docker_engine.confined(
        qscaler_image,
        env={
            "KUBERNETES_SERVICE_HOST": str(api.hostname),
            "KUBERNETES_SERVICE_PORT": str(api.port),
            "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
            "QSCALER_USERNAME": broker.user,
            "QSCALER_PASSWORD": broker.password,
            "QSCALER_NAMESPACES": namespace,
            "QSCALER_LEASE_NAME": container,
            "QSCALER_LEASE_NAMESPACE": QSCALER_NAMESPACE,
            "QSCALER_POLL_INTERVAL_SECONDS": "1",
            "QSCALER_METRICS_ADDRESS": "127.0.0.1",
            "QSCALER_METRICS_PORT": str(free_port()),
        },
        mounts={service_account_volume(control_plane, tmp_path / "sa"): SERVICE_ACCOUNT_DIR},
        detach_as=container,
        check=True,
    )
    try:
        broker.publish(vhost, "work", 50)
        wait_for(
            "qscaler in the container to scale worker to 5",
            lambda: control_plane.replicas(namespace, "worker") == 5,
            timeout=120,
        )
        control_plane.await_events(namespace, "worker", "ScaleUp")
        # `docker stop` sends SIGTERM to PID 1: qscaler stops cleanly (exit 0).
        docker_engine.run("stop", "--time", "30", container)
        state = docker_engine.inspect("container", container)["State"]
        assert state["ExitCode"] == 0, docker_engine.run("logs", container).stderr[-3000:]
    finally:
        print(docker_engine.run("logs", container, check=False).stderr[-3000:])
        docker_engine.run("rm", "-f", container, check=False)
