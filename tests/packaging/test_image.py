"""qscaler's image, built from the project's Dockerfile by a real engine and
run the way deploy/base runs it: read-only root filesystem, no capabilities,
no privilege escalation, as the image's own non-root user.

The base is a local stand-in for the official Python image (no registry is
reachable from the test machines; see tests/harness/images.py). The e2e test
that runs `qscaler run` from the image against the control plane is in
tests/e2e/test_image.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import qscaler
from tests.harness.docker import DockerEngine, readable_dir
from tests.harness.rabbitmq import Broker, poll_until

REPO = Path(__file__).resolve().parents[2]
SITE = "/opt/qscaler/lib/python3.11/site-packages"

#: the image and its entry point; the source itself is tested on every version.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.rabbitmq_one_version]


def _python(engine: DockerEngine, image: str, code: str) -> str:
    done = engine.confined(image, "-c", code, entrypoint="python")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_runs_confined_as_its_non_root_user(
    docker_engine: DockerEngine, qscaler_image: str
) -> None:
    done = docker_engine.confined(qscaler_image, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"qscaler {qscaler.__version__}"
    ids = _python(docker_engine, qscaler_image, "import os; print(os.getuid(), os.getgid())")
    assert ids.split() == ["10001", "10001"]


def test_bad_settings_exit_2_with_one_line(docker_engine: DockerEngine, qscaler_image: str) -> None:
    done = docker_engine.confined(
        qscaler_image,
        "plan",
        "--bindings",
        "/dev/null",
        env={"QSCALER_SOURCE": "carrier-pigeon"},
    )
    assert done.returncode == 2
    assert "QSCALER_SOURCE" in done.stderr
    assert "Traceback" not in done.stderr


def test_ships_the_whole_package_and_its_description(
    docker_engine: DockerEngine, qscaler_image: str
) -> None:
    listing = _python(
        docker_engine,
        qscaler_image,
        f"import pathlib; root = pathlib.Path('{SITE}');"
        "print('\\n'.join(p.relative_to(root).as_posix() for p in (root / 'qscaler').rglob('*')"
        " if p.is_file() and '__pycache__' not in p.parts))",
    )
    package = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "qscaler").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }
    assert package - set(listing.split()) == set(), "package files the image leaves out"
    # pyproject.toml names README.md as the readme: the context must carry it.
    description = _python(
        docker_engine,
        qscaler_image,
        "from importlib.metadata import metadata; print(metadata('qscaler').get_payload())",
    )
    assert description.startswith("# qscaler")


def test_leaves_out_the_unused_asyncio_kubernetes_client(
    docker_engine: DockerEngine, qscaler_image: str
) -> None:
    found = _python(
        docker_engine,
        qscaler_image,
        "import importlib.util as u, kubernetes.client, qscaler.kube.client;"
        "print(u.find_spec('kubernetes.aio'))",
    )
    assert found.strip() == "None"


@pytest.mark.rabbitmq
@pytest.mark.rabbitmq_versions("3.10.8")  # the image is under test, not the broker
def test_plan_in_the_image_reads_the_real_broker(
    docker_engine: DockerEngine, qscaler_image: str, broker: Broker, vhost: str, tmp_path: Path
) -> None:
    broker.declare_queues(vhost, "orders")
    broker.publish(vhost, "orders", 250)
    poll_until(
        "the management API to count 250 messages",
        lambda: (broker.queue(vhost, "orders") or {}).get("messages"),
        lambda n: n == 250,
    )
    config = readable_dir(tmp_path / "config")
    binding = {
        "name": "orders-consumer",
        "replicas": 1,
        "annotations": {
            "qscaler.io/queues": "orders",
            "qscaler.io/vhost": vhost,
            "qscaler.io/messages-per-replica": "100",
        },
    }
    (config / "bindings.yaml").write_text(yaml.safe_dump({"workloads": [binding]}))
    done = docker_engine.confined(
        qscaler_image,
        "plan",
        "--bindings",
        "/config/bindings.yaml",
        "--output",
        "json",
        env={
            "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
            "QSCALER_USERNAME": broker.user,
            "QSCALER_PASSWORD": broker.password,
        },
        mounts={config: "/config"},
    )
    assert done.returncode == 0, done.stderr
    (workload,) = json.loads(done.stdout)["workloads"]
    assert workload["observation"]["messages_ready"] == 250
    assert workload["decision"]["desired"] == 3, workload["decision"]  # ceil(250 / 100)
    assert workload["written"] is False
