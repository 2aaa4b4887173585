"""charts/qscaler: lint-clean, schema-checked, and the same objects as deploy/.

The chart and the kustomize tree describe one installation; these tests keep
them from drifting apart. With default values `helm template` must give the
objects `kubectl kustomize deploy/base` gives, compared as parsed objects
(order, comments and quoting aside) after removing the labels the chart adds
for Helm's bookkeeping. The Namespace is the one deliberate difference: Helm
creates the release namespace (`--create-namespace`), so the chart renders it
only with `namespace.create=true`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from qscaler.brokers import load_brokers
from qscaler.settings import load_settings
from tests.chart.helm import CHART, REPO, Helm, objects_by_key
from tests.harness.k8s import ControlPlane

DEPLOY = REPO / "deploy"


def _kustomized(plane: ControlPlane, folder: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    rendered = plane.kubectl("kustomize", str(DEPLOY / folder))
    return objects_by_key([d for d in yaml.safe_load_all(rendered) if d])


def _diff(chart: dict[Any, Any], kustomize: dict[Any, Any]) -> str:
    only = set(chart) ^ set(kustomize)
    differ = [k for k in set(chart) & set(kustomize) if chart[k] != kustomize[k]]
    return f"only on one side: {sorted(only)}; different: {sorted(differ)}"


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The qscaler container of the one Deployment rendered."""
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def deployment_volumes(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    volumes: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["volumes"]
    return volumes


def test_lint_is_clean(helm: Helm) -> None:
    done = helm.run("lint", "--strict", str(CHART))
    assert "[WARNING]" not in done.stdout, done.stdout
    assert "[ERROR]" not in done.stdout, done.stdout
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.k8s
def test_defaults_render_deploy_base(helm: Helm, control_plane: ControlPlane) -> None:
    base = _kustomized(control_plane, "base")
    namespace = ("Namespace", "", "qscaler-system")
    chart = objects_by_key(helm.template())
    assert namespace not in chart, "Helm creates the release namespace by default"
    assert chart == {k: v for k, v in base.items() if k != namespace}, _diff(chart, base)
    with_namespace = objects_by_key(helm.template("namespace.create=true"))
    assert with_namespace == base, _diff(with_namespace, base)


@pytest.mark.k8s
def test_watch_namespaces_render_the_namespaced_overlay(
    helm: Helm, control_plane: ControlPlane
) -> None:
    overlay = _kustomized(control_plane, "overlays/namespaced")
    chart = objects_by_key(helm.template("watchNamespaces={apps}"))
    overlay.pop(("Namespace", "", "qscaler-system"))
    assert chart == overlay, _diff(chart, overlay)


def test_monitoring_objects_match_deploy(helm: Helm) -> None:
    docs = helm.template(
        "serviceMonitor.enabled=true",
        "prometheusRule.enabled=true",
        "grafanaDashboard.enabled=true",
        "prometheusRule.labels.release=kps",
    )
    by_kind = {d["kind"]: d for d in docs}
    monitor = yaml.safe_load((DEPLOY / "servicemonitor" / "servicemonitor.yaml").read_text())
    assert by_kind["ServiceMonitor"]["spec"] == monitor["spec"]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "qscaler-rules.yaml").read_text())
    assert by_kind["PrometheusRule"]["spec"] == rules
    assert by_kind["PrometheusRule"]["metadata"]["labels"]["release"] == "kps"
    dashboard = by_kind["ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(dashboard["data"]["qscaler-dashboard.json"])
    assert shipped == json.loads((DEPLOY / "grafana" / "qscaler-dashboard.json").read_text())


@pytest.mark.parametrize(
    "name", ["qscaler-rules.yaml", "qscaler-dashboard.json"], ids=["rules", "dashboard"]
)
def test_chart_files_are_copies_of_deploy(name: str) -> None:
    """Helm reads only files inside the chart: files/ holds copies, kept identical."""
    source = next(DEPLOY.rglob(name))
    assert (CHART / "files" / name).read_bytes() == source.read_bytes(), (
        f"cp {source.relative_to(REPO)} {(CHART / 'files').relative_to(REPO)}/"
    )


def test_values_become_settings(helm: Helm) -> None:
    docs = helm.template(
        "broker.source=amqp",
        "broker.amqpUrl=amqps://rabbitmq.example:5671",
        "leaderElection.enabled=false",
        "replicas=1",
        "logFormat=text",
        "image.tag=9.9.9",
        "extraVolumes[0].name=brokers",
        "extraVolumes[0].configMap.name=qscaler-brokers",
        "extraVolumeMounts[0].name=brokers",
        "extraVolumeMounts[0].mountPath=/etc/qscaler/brokers",
    )
    container = _container(docs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["QSCALER_SOURCE"] == "amqp"
    assert env["QSCALER_AMQP_URL"] == "amqps://rabbitmq.example:5671"
    assert env["QSCALER_LEADER_ELECTION"] == "false"
    assert env["QSCALER_LOG_FORMAT"] == "text"
    assert container["volumeMounts"][-1] == {"name": "brokers", "mountPath": "/etc/qscaler/brokers"}
    volumes = deployment_volumes(docs)
    assert volumes[-1] == {"name": "brokers", "configMap": {"name": "qscaler-brokers"}}
    assert container["image"] == "ghcr.io/qscaler/qscaler:9.9.9"
    kinds = {d["kind"] for d in docs}
    # One replica without leader election: no Lease Role, and no PDB that
    # would block every node drain.
    assert "PodDisruptionBudget" not in kinds
    assert not any(d["metadata"]["name"].endswith("leader-election") for d in docs)


def test_the_forecast_store_can_be_turned_off(helm: Helm) -> None:
    out = helm.run("template", "qscaler", str(CHART), "--set", "forecastStore.enabled=false")
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    env = {e["name"]: e.get("value") for e in _container(docs)["env"]}
    assert env["QSCALER_FORECAST_STORE"] == "false"
    assert not any("forecast" in d["metadata"]["name"] for d in docs)


def test_another_release_name_gets_its_own_names_and_lease(helm: Helm) -> None:
    out = helm.run("template", "team-a", str(CHART), "--namespace", "ops").stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRole"} == {"team-a-qscaler"}
    env = {e["name"]: e.get("value") for e in _container(docs)["env"]}
    assert env["QSCALER_LEASE_NAME"] == "team-a-qscaler-leader"
    # Nor the forecast's ConfigMap, and the Role names the one this release uses.
    assert env["QSCALER_FORECAST_STORE_NAME"] == "team-a-qscaler-forecast"
    named = [d for d in docs if d["metadata"]["name"] == "team-a-qscaler-forecast-store"]
    (role,) = [d for d in named if d["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "ops"
    assert role["rules"][0]["resourceNames"] == ["team-a-qscaler-forecast"]


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        pytest.param("replica=3", "additional properties 'replica'", id="typo"),
        pytest.param("broker.source=pigeon", "/broker/source", id="bad-source"),
        pytest.param("watchNamespaces={Apps}", "/watchNamespaces/0", id="bad-namespace"),
        pytest.param("logFormat=xml", "/logFormat", id="bad-log-format"),
    ],
)
def test_schema_refuses_bad_values(helm: Helm, value: str, complaint: str) -> None:
    done = helm.run("template", "qscaler", str(CHART), "--set", value, check=False)
    assert done.returncode != 0
    assert complaint in done.stderr, done.stderr


def test_schema_is_valid_json() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])


def test_brokers_become_a_brokers_file_and_mounted_secrets(helm: Helm, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "brokers": [
                    {
                        "name": "payments",
                        "managementUrl": "https://rabbitmq.payments.svc:15671",
                        "amqpUrl": "amqps://rabbitmq.payments.svc:5671",
                        "secretName": "qscaler-rabbitmq-payments",
                        "tlsCa": True,
                    },
                    {
                        "name": "eu",
                        "source": "prometheus",
                        "prometheusUrls": ["http://rabbitmq-0.eu.svc:15692"],
                        "secretName": "qscaler-rabbitmq-eu",
                    },
                ]
            }
        )
    )
    out = helm.run("template", "qscaler", str(CHART), "--namespace", "ops", "-f", str(values))
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert config["metadata"]["name"] == "qscaler-brokers"
    brokers_file = tmp_path / "brokers.yaml"
    brokers_file.write_text(config["data"]["brokers.yaml"])
    brokers = load_brokers(load_settings(brokers_file=brokers_file))
    assert list(brokers) == ["default", "payments", "eu"]
    assert brokers["payments"].tls_ca_file == Path("/etc/qscaler/brokers/payments/ca.crt")
    assert brokers["eu"].prometheus_urls == ("http://rabbitmq-0.eu.svc:15692",)

    container = _container(docs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["QSCALER_BROKERS_FILE"] == "/etc/qscaler/brokers-file/brokers.yaml"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["brokers-file"] == "/etc/qscaler/brokers-file"
    assert mounts["broker-payments"] == "/etc/qscaler/brokers/payments"
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["broker-eu"]["secret"]["secretName"] == "qscaler-rabbitmq-eu"
    assert volumes["brokers-file"]["configMap"]["name"] == "qscaler-brokers"
    assert "checksum/brokers" in pod["metadata"]["annotations"]


def test_the_schema_keeps_passwords_out_of_broker_values(helm: Helm) -> None:
    done = helm.run(
        "template", "qscaler", str(CHART),
        "--set", "brokers[0].name=eu", "--set", "brokers[0].secretName=s",
        "--set", "brokers[0].password=hunter2", check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "additional properties 'password'" in done.stderr, done.stderr
