"""docker-compose.yml, read as a file.

tests/packaging/test_compose_up.py starts the stack with a real engine (on
stand-in images); these tests check, in milliseconds and for the file users
run with the official images, what would make `docker compose up` fail or
show nothing: the services and their published
ports, that every host file mounted exists (and parses), that Prometheus
scrapes the services by the names and ports compose gives them and loads the
rules file where it is mounted, that qscaler's environment holds real
settings, and that the qscaler and loadgen commands parse with qscaler's own
command line and point at files that are mounted and valid.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from qscaler import cli, loadgen
from qscaler.bindings_file import load_bindings
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PROMETHEUS = yaml.safe_load((REPO / "compose" / "prometheus.yml").read_text())

#: Files other parts of the project provide; while they are being written
#: their mounts are skipped (with this reason) rather than failed.
PENDING = {
    "deploy/grafana/provisioning": "Grafana provisioning (dashboard provider, data source)",
    "deploy/grafana/qscaler-dashboard.json": "the Grafana dashboard",
    "deploy/prometheus/qscaler-rules.yaml": "the Prometheus alert rules",
}
DASHBOARDS_DIR = "/var/lib/grafana/dashboards"


@dataclass(frozen=True, slots=True)
class Mount:
    service: str
    source: str  # relative to the repository
    target: str
    spec: dict[str, Any]


def _mounts() -> list[Mount]:
    mounts = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source, target = volume.split(":")[:2]
                spec: dict[str, Any] = {"type": "bind", "source": source, "target": target}
            else:
                spec = volume
            assert spec["type"] == "bind", f"{name}: only bind mounts are expected"
            rel = Path(spec["source"]).as_posix().removeprefix("./")
            mounts.append(Mount(name, rel, spec["target"], spec))
    return mounts


def _mount(service: str, target: str) -> Mount:
    return next(m for m in _mounts() if m.service == service and m.target == target)


def _published(service: str) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port)."""
    result = {}
    for entry in SERVICES[service].get("ports", []):
        address, host, container = str(entry).split(":")
        result[int(container)] = (address, int(host))
    return result


def _command(service: str) -> argparse.Namespace:
    command = SERVICES[service]["command"]
    assert isinstance(command, list), f"{service}: the exec (list) form of command"
    try:
        return cli._parser().parse_args(command)
    except SystemExit as exc:
        raise AssertionError(f"{service}: `qscaler {' '.join(command)}` does not parse") from exc


def test_the_stack_has_its_five_services() -> None:
    assert set(SERVICES) == {"rabbitmq", "qscaler", "prometheus", "grafana", "loadgen"}


@pytest.mark.parametrize(
    ("service", "ports"),
    [
        ("rabbitmq", {5672, 15672, 15692}),
        ("qscaler", {8080}),
        ("prometheus", {9090}),
        ("grafana", {3000}),
    ],
)
def test_published_ports_on_loopback_only(service: str, ports: set[int]) -> None:
    published = _published(service)
    assert set(published) == ports
    for container, (address, host) in published.items():
        assert (address, host) == ("127.0.0.1", container), "demo passwords: loopback only"


def test_rabbitmq_runs_management_and_prometheus_plugins() -> None:
    image = SERVICES["rabbitmq"]["image"]
    name, _, tag = image.partition(":")
    assert name == "rabbitmq"
    assert tag.endswith("-management"), image
    major, minor = (int(x) for x in tag.split("-")[0].split(".")[:2])
    assert (major, minor) >= (3, 13), image
    plugins_file = REPO / _mount("rabbitmq", "/etc/rabbitmq/enabled_plugins").source
    text = plugins_file.read_text().strip()
    assert text.startswith("["), "an Erlang list term"
    assert text.endswith("]."), "an Erlang term ends with '.'"
    plugins = {p.strip() for p in text[1:-2].split(",")}
    assert plugins == {"rabbitmq_management", "rabbitmq_prometheus"}


@pytest.mark.parametrize("mount", _mounts(), ids=lambda m: f"{m.service}:{m.target}")
def test_mounted_host_path_exists(mount: Mount) -> None:
    assert mount.spec.get("read_only") is True, "configuration is mounted read-only"
    assert mount.spec.get("bind", {}).get("create_host_path") is False, (
        "a missing file must fail `up`, not become an empty directory"
    )
    path = REPO / mount.source
    if not path.exists() and mount.source in PENDING:
        pytest.skip(f"{mount.source} ({PENDING[mount.source]}) is not written yet")
    assert path.exists(), f"{mount.service} mounts {mount.source}, which does not exist"
    if mount.source == "deploy/grafana/provisioning":
        assert path.is_dir(), "Grafana reads /etc/grafana/provisioning as a directory"
    else:
        assert path.is_file(), f"{mount.source}: mounted onto a file path"
    if path.suffix == ".json":
        assert "panels" in json.loads(path.read_text()), "a Grafana dashboard"
    elif mount.service == "prometheus" and mount.source.startswith("deploy/"):
        assert "groups" in yaml.safe_load(path.read_text()), "a Prometheus rules file"
    elif path.suffix in (".yaml", ".yml"):
        assert yaml.safe_load(path.read_text()) is not None


def test_qscaler_is_built_from_the_dockerfile_and_loadgen_reuses_it() -> None:
    build = SERVICES["qscaler"]["build"]
    assert (REPO / build["context"] / build["dockerfile"]).is_file()
    assert SERVICES["loadgen"]["image"] == SERVICES["qscaler"]["image"]


@pytest.mark.parametrize("service", ["qscaler", "loadgen"])
def test_environment_names_real_settings(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = SERVICES[service]["environment"]
    unknown = [k for k in env if k.removeprefix("QSCALER_").lower() not in Settings.model_fields]
    assert not unknown, f"{service}: not qscaler settings: {unknown}"
    assert all(k.startswith("QSCALER_") for k in env)
    for key in list(os.environ):
        if key.startswith("QSCALER_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = load_settings()  # the values are valid too
    broker = urlsplit(settings.management_url)
    assert broker.hostname == "rabbitmq"
    assert broker.port in _published("rabbitmq")
    assert urlsplit(settings.amqp_url).hostname == "rabbitmq"


def test_qscaler_runs_dry_on_the_shipped_bindings() -> None:
    args = _command("qscaler")
    assert args.command is cli.cmd_run
    bindings = _mount("qscaler", str(args.bindings))
    cluster = load_bindings(REPO / bindings.source)
    workloads = cluster.workloads()
    assert workloads, "the bindings file binds at least one workload"
    for workload in workloads:
        parse_binding(workload.annotations, ProcessDefaults())  # raises BindingError
    assert SERVICES["qscaler"]["environment"]["QSCALER_DRY_RUN"] == "true"


def test_loadgen_loads_the_queue_qscaler_watches() -> None:
    args = _command("loadgen")
    assert args.command is loadgen.cmd_loadgen
    assert args.trace is not None
    rates = loadgen.load_rates(REPO / _mount("loadgen", str(args.trace)).source)
    assert max(rates) > 0
    watched = load_bindings(REPO / _mount("qscaler", str(_command("qscaler").bindings)).source)
    annotations = watched.workloads()[0].annotations
    assert args.queue == annotations["qscaler.io/queues"]
    assert (args.vhost or "/") == annotations["qscaler.io/vhost"]
    assert args.consumers >= 1


def test_prometheus_scrapes_compose_services_by_name_and_port() -> None:
    assert _mount("prometheus", "/etc/prometheus/prometheus.yml").source == "compose/prometheus.yml"
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    assert set(jobs) == {"qscaler", "rabbitmq"}
    expected = {"qscaler": Settings().metrics_port, "rabbitmq": 15692}
    for name, job in jobs.items():
        targets = [t for group in job["static_configs"] for t in group["targets"]]
        assert targets == [f"{name}:{expected[name]}"]
        host, port = targets[0].split(":")
        assert host in SERVICES
        assert int(port) in _published(host), f"{host} does not listen on {port}"


def test_prometheus_loads_the_rules_where_they_are_mounted() -> None:
    targets = {m.target: m.source for m in _mounts() if m.service == "prometheus"}
    for rule_file in PROMETHEUS["rule_files"]:
        assert targets.get(rule_file) == "deploy/prometheus/qscaler-rules.yaml", rule_file


def test_grafana_provisioning_points_at_the_mounted_dashboard_and_prometheus() -> None:
    dashboard = _mount("grafana", f"{DASHBOARDS_DIR}/qscaler-dashboard.json")
    assert dashboard.source == "deploy/grafana/qscaler-dashboard.json"
    env = SERVICES["grafana"]["environment"]
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == dashboard.target
    provisioning = REPO / _mount("grafana", "/etc/grafana/provisioning").source
    if not provisioning.is_dir():
        pytest.skip(f"{provisioning.relative_to(REPO)} is not written yet")
    providers = [
        p
        for f in sorted((provisioning / "dashboards").glob("*.y*ml"))
        for p in (yaml.safe_load(f.read_text()) or {}).get("providers", [])
    ]
    if not providers:
        pytest.skip(f"{provisioning.relative_to(REPO)}/dashboards has no provider yet")
    assert [p["options"]["path"] for p in providers] == [DASHBOARDS_DIR]
    sources = [
        s
        for f in sorted((provisioning / "datasources").glob("*.y*ml"))
        for s in (yaml.safe_load(f.read_text()) or {}).get("datasources", [])
    ]
    prometheus = [s for s in sources if s.get("type") == "prometheus"]
    assert prometheus, f"{provisioning.relative_to(REPO)}/datasources: a Prometheus data source"
    assert {urlsplit(s["url"]).netloc for s in prometheus} == {"prometheus:9090"}
