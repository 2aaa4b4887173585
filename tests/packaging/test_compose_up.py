"""`docker compose up` of the stack in docker-compose.yml, for real.

A private engine runs rabbitmq, qscaler, loadgen and prometheus; the
override tests/docker/compose.test.yaml swaps in local stand-ins for the
official RabbitMQ and Prometheus images (built from Debian packages), the
qscaler image the tests build, free host ports, and leaves Grafana out (no
Debian package). What a developer would look at is checked: qscaler healthy,
loadgen publishing, Prometheus scraping qscaler with the alert rules loaded,
a decision for the loadgen's queue on /status, and a stop in which every
service exits on its own SIGTERM instead of being killed.

The tests of this module share one stack and run in file order: the last one
stops it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness import images
from tests.harness.compose import REPO, Compose
from tests.harness.docker import DockerEngine
from tests.harness.k8s import wait_for
from tests.harness.qscaler_process import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

OVERRIDE = REPO / "tests" / "docker" / "compose.test.yaml"
SERVICES = {"rabbitmq", "qscaler", "loadgen", "prometheus"}


def _get(url: str, auth: tuple[str, str] | None = None) -> Any:
    """The JSON at `url`, or None while the service is not answering yet."""
    try:
        response = httpx.get(url, auth=auth, timeout=10)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


class Stack:
    def __init__(self, compose: Compose, ports: dict[str, int]) -> None:
        self.compose, self.ports = compose, ports

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def states(self) -> dict[str, dict[str, Any]]:
        out = self.compose.run("ps", "--all", "--format", "json").stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {row["Service"]: row for row in rows}


@pytest.fixture(scope="module")
def compose(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Compose:
    ports = {
        "QSCALER_TEST_MANAGEMENT_PORT": free_port(),
        "QSCALER_TEST_QSCALER_PORT": free_port(),
        "QSCALER_TEST_PROMETHEUS_PORT": free_port(),
    }
    return Compose(
        docker_engine,
        tmp_path_factory.mktemp("docker-config"),
        [REPO / "docker-compose.yml", OVERRIDE],
        {k: str(v) for k, v in ports.items()},
    )


@pytest.fixture(scope="module")
def stack(compose: Compose, docker_engine: DockerEngine, qscaler_image: str) -> Iterator[Stack]:
    for name in ("rabbitmq", "prometheus"):
        images.ensure_standin(docker_engine, name)
    ports = {
        "rabbitmq": int(compose.env["QSCALER_TEST_MANAGEMENT_PORT"]),
        "qscaler": int(compose.env["QSCALER_TEST_QSCALER_PORT"]),
        "prometheus": int(compose.env["QSCALER_TEST_PROMETHEUS_PORT"]),
    }
    try:
        compose.run("up", "--detach", "--no-build", "--wait", "--wait-timeout", "300", timeout=420)
        yield Stack(compose, ports)
    finally:
        print(compose.run("logs", "--no-color", "--tail", "30", check=False).stdout[-6000:])
        compose.run("down", "--volumes", "--timeout", "10", check=False, timeout=120)


def test_config_keeps_the_official_images_for_users(compose: Compose) -> None:
    users = Compose(
        compose.engine, Path(compose.env["DOCKER_CONFIG"]), [REPO / "docker-compose.yml"], {}
    )
    config = yaml.safe_load(users.run("config").stdout)
    images_ = {name: service["image"] for name, service in config["services"].items()}
    assert images_["rabbitmq"].startswith("rabbitmq:")
    assert images_["prometheus"].startswith("prom/prometheus:")
    assert "grafana" in images_
    tested = yaml.safe_load(compose.run("config").stdout)["services"]
    assert set(tested) == SERVICES, "Grafana is left out of the test stack only"


def test_qscaler_is_healthy(stack: Stack) -> None:
    states = stack.states()
    assert set(states) == SERVICES
    assert states["qscaler"]["Health"] == "healthy"
    assert states["rabbitmq"]["Health"] == "healthy"
    assert all(s["State"] == "running" for s in states.values()), states


def test_loadgen_publishes_to_the_orders_queue(stack: Stack) -> None:
    auth = ("qscaler", "qscaler")  # the compose file's demo credentials

    def publishing_and_consuming() -> dict[str, Any] | None:
        queue = _get(stack.url("rabbitmq", "/api/queues/%2F/orders"), auth)
        if not queue or queue.get("message_stats", {}).get("publish", 0) == 0:
            return None
        return queue if queue["consumers"] == 2 else None  # loadgen's --consumers 2

    wait_for(
        "loadgen's publishes and its 2 consumers on the orders queue",
        publishing_and_consuming,
        timeout=180,
    )


def test_prometheus_scrapes_qscaler_and_loaded_the_rules(stack: Stack) -> None:
    def qscaler_up() -> list[dict[str, Any]] | None:
        query = _get(stack.url("prometheus", '/api/v1/query?query=up{job="qscaler"}'))
        result: list[dict[str, Any]] = query["data"]["result"] if query else []
        return result if result and result[0]["value"][1] == "1" else None

    result = wait_for('Prometheus: up{job="qscaler"} == 1', qscaler_up, timeout=120)
    assert result[0]["metric"]["instance"] == "qscaler:8080"
    groups = _get(stack.url("prometheus", "/api/v1/rules"))["data"]["groups"]
    rules = {rule["name"] for group in groups for rule in group["rules"]}
    shipped = yaml.safe_load((REPO / "deploy" / "prometheus" / "qscaler-rules.yaml").read_text())
    assert rules == {r["alert"] for g in shipped["groups"] for r in g["rules"]}


def test_status_has_a_decision_for_the_loadgen_queue(stack: Stack) -> None:
    def decided() -> dict[str, Any] | None:
        status = _get(stack.url("qscaler", "/status")) or {"workloads": []}
        for workload in status["workloads"]:
            if workload["workload"] == "orders-consumer" and workload.get("decision"):
                return dict(workload)
        return None

    workload = wait_for("a decision for orders-consumer on /status", decided, timeout=120)
    assert workload["policy"]["queues"] == "orders"
    assert workload["error"] is None, workload


def test_every_service_stops_on_its_own_sigterm(stack: Stack) -> None:
    started = time.monotonic()
    stack.compose.run("stop", "--timeout", "10", timeout=120)
    print(f"\ncompose stop took {time.monotonic() - started:.1f} s")
    states = stack.states()
    # 137 is SIGKILL: the service ignored SIGTERM and was killed after 10 s.
    codes = {name: s["ExitCode"] for name, s in states.items()}
    assert all(code != 137 for code in codes.values()), codes
