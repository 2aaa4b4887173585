"""The dashboard, the rules and the provisioning files are usable as shipped.

What the reference check cannot see: every panel must use the `${datasource}`
variable (a hard-coded data source breaks the import in any other Grafana),
the namespace and workload variables must exist and be used, the
PrometheusRule must carry exactly the rules of the plain file, every alert
must say what happened and where to look, and the provisioning must point
Grafana at the path docker-compose mounts the dashboard to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.observability.conftest import DASHBOARD, REPO, RULES
from tests.observability.promql_refs import dashboard_queries

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"


def load_dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def datasources(node: object) -> list[object]:
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [d for v in node.values() for d in datasources(v)]
    if isinstance(node, list):
        return [d for v in node for d in datasources(v)]
    return []


def test_every_query_uses_the_datasource_variable() -> None:
    dashboard = load_dashboard()
    used = datasources(dashboard["panels"]) + datasources(dashboard["templating"]["list"][1:])
    used += datasources([a for a in dashboard["annotations"]["list"] if not a.get("builtIn")])
    assert used
    assert all(d == {"type": "prometheus", "uid": "${datasource}"} for d in used), {
        json.dumps(d) for d in used
    }
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")


def test_namespace_and_workload_variables_filter_the_workload_panels() -> None:
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    assert variables["namespace"]["type"] == variables["workload"]["type"] == "query"
    assert "$namespace" in variables["workload"]["definition"]
    # Per-workload families in the graphs (the overview stats count every workload).
    graphs = {p["title"] for p in load_dashboard()["panels"] if p["type"] != "stat"}
    per_workload = [
        q
        for q in dashboard_queries(DASHBOARD)
        if q.where.split("'")[1:2]
        and q.where.split("'")[1] in graphs
        and any(
            m in q.expr
            for m in (
                "qscaler_replicas_",
                "qscaler_held_back",
                "qscaler_queue_",
                "qscaler_decisions_total",
            )
        )
    ]
    assert len(per_workload) >= 10
    assert all("$namespace" in q.expr and "$workload" in q.expr for q in per_workload), [
        q.where for q in per_workload if "$workload" not in q.expr
    ]


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in load_dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]
    ids = [p["id"] for p in load_dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def test_the_prometheusrule_carries_exactly_the_plain_rules() -> None:
    plain = yaml.safe_load(RULES.read_text())
    operator = yaml.safe_load((PROMETHEUS_DIR / "prometheusrule.yaml").read_text())
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"]["groups"] == plain["groups"]
    kustomization = yaml.safe_load((PROMETHEUS_DIR / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["prometheusrule.yaml"]


def test_every_alert_says_what_happened_and_where_to_look() -> None:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["alert"].startswith("Qscaler")
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            annotations = rule["annotations"]
            assert {"summary", "description", "runbook"} <= annotations.keys(), rule["alert"]
            assert "README.md#troubleshooting" in annotations["runbook"], rule["alert"]
    documented = (REPO / "docs" / "observability.md").read_text()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert f"`{rule['alert']}`" in documented, (
                f"{rule['alert']} not in docs/observability.md"
            )


def test_grafana_provisioning_loads_the_dashboard_from_the_mounted_path() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "qscaler.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    assert [d["type"] for d in sources["datasources"]] == ["prometheus"]
    assert load_dashboard()["uid"] == "qscaler"


def test_every_metric_is_documented() -> None:
    """docs/observability.md lists every metric the Metrics class registers."""
    from prometheus_client import CollectorRegistry

    from qscaler.record.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    documented = (REPO / "docs" / "observability.md").read_text()
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    missing = sorted(n for n in names if f"`{n}`" not in documented)
    assert missing == []
    assert Path(REPO / "docs" / "images" / "dashboard.png").stat().st_size < 300_000
