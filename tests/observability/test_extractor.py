"""The reference checker itself: it must catch each mistake it exists to catch.

The dashboard and rules checks pass when the checker finds nothing, so a
checker that silently found nothing would make them pass on anything. These
cases feed it one known mistake each (against a small hand-written scrape)
and require the complaint, and feed it correct queries and require silence.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.observability.promql_refs import (
    Exported,
    Query,
    dashboard_queries,
    problems,
    references,
    rules_queries,
)

SCRAPE = """\
# HELP qscaler_queue_messages Messages.
# TYPE qscaler_queue_messages gauge
qscaler_queue_messages{namespace="a",workload="w",kind="Deployment",state="ready"} 5.0
# HELP qscaler_leader Leader.
# TYPE qscaler_leader gauge
qscaler_leader 1.0
# HELP qscaler_cycle_duration_seconds Cycle.
# TYPE qscaler_cycle_duration_seconds histogram
qscaler_cycle_duration_seconds_bucket{le="1.0"} 1.0
qscaler_cycle_duration_seconds_bucket{le="+Inf"} 1.0
qscaler_cycle_duration_seconds_count 1.0
qscaler_cycle_duration_seconds_sum 0.1
# HELP qscaler_kubernetes_errors_total Errors.
# TYPE qscaler_kubernetes_errors_total counter
"""


def check(expr: str, printed: frozenset[str] = frozenset(), lists: str | None = None) -> list[str]:
    exported = Exported.parse(SCRAPE)
    return problems(
        [Query("q", expr, printed, lists)],
        exported,
        allow_empty=frozenset({"qscaler_kubernetes_errors_total"}),
    )


@pytest.mark.parametrize(
    ("expr", "printed", "complaint"),
    [
        pytest.param(
            "qscaler_queue_message",
            frozenset(),
            "metric qscaler_queue_message",
            id="misspelt-metric",
        ),
        pytest.param(
            'qscaler_queue_messages{queue="x"}',
            frozenset(),
            "matcher label 'queue'",
            id="unknown-matcher",
        ),
        pytest.param(
            "sum by (vhost) (qscaler_queue_messages)", frozenset(), "label 'vhost'", id="unknown-by"
        ),
        pytest.param(
            "sum by (state) (qscaler_queue_messages)",
            frozenset({"workload"}),
            "printed",
            id="legend-dropped-by-sum",
        ),
        pytest.param(
            "sum(rate(qscaler_cycle_duration_seconds_bucket[5m]))",
            frozenset({"le"}),
            "printed",
            id="legend-on-aggregate",
        ),
        pytest.param(
            "qscaler_queue_messages / on (vhost) qscaler_leader",
            frozenset(),
            "on/ignoring label 'vhost'",
            id="unknown-on",
        ),
        pytest.param(
            "qscaler_queue_messages * on () group_left (state) qscaler_leader",
            frozenset(),
            "group_left/right label 'state'",
            id="group-left-label-not-on-the-one-side",
        ),
        pytest.param(
            "histogram_quantile(0.9, rate(qscaler_cycle_duration_seconds_bucket[5m]))",
            frozenset({"le"}),
            "printed",
            id="quantile-drops-le",
        ),
        pytest.param(
            "sum(qscaler_queue_messages) / on (workload) sum by (workload) (qscaler_queue_messages)",
            frozenset(),
            "on/ignoring label 'workload'",
            id="on-label-aggregated-away",
        ),
        pytest.param(
            'absent(up{job="qscaler"} == 1)',
            frozenset({"job"}),
            "printed",
            id="absent-of-a-filter-has-no-labels",
        ),
    ],
)
def test_each_mistake_is_reported(expr: str, printed: frozenset[str], complaint: str) -> None:
    found = check(expr, printed)
    assert any(complaint in f for f in found), found


@pytest.mark.parametrize(
    ("expr", "printed"),
    [
        pytest.param(
            'sum by (state) (qscaler_queue_messages{namespace=~"$namespace"})',
            frozenset({"state"}),
            id="grafana-variable",
        ),
        pytest.param(
            "sum by (le) (rate(qscaler_cycle_duration_seconds_bucket[$__rate_interval]) and on (instance) (qscaler_leader == 1))",
            frozenset(),
            id="leader-filter",
        ),
        pytest.param('absent(up{job="qscaler"})', frozenset({"job"}), id="scrape-series"),
        pytest.param(
            "time() - max by (workload) (qscaler_queue_messages)",
            frozenset({"workload"}),
            id="scalar-minus-vector",
        ),
        pytest.param(
            "qscaler_queue_messages / on (workload) group_left () max by (workload) (qscaler_queue_messages)",
            frozenset({"state"}),
            id="group-left-keeps-lhs",
        ),
        pytest.param(
            'sum by (code) (rate(qscaler_kubernetes_errors_total{code="403"}[5m]))',
            frozenset({"code"}),
            id="announced-without-samples",
        ),
        pytest.param(
            "count by (state) (qscaler_queue_messages) or vector(0)", frozenset(), id="or-vector"
        ),
    ],
)
def test_correct_queries_pass(expr: str, printed: frozenset[str]) -> None:
    assert check(expr, printed) == []


def test_an_announced_family_is_only_allowed_when_listed() -> None:
    exported = Exported.parse(SCRAPE)
    query = Query("q", "rate(qscaler_kubernetes_errors_total[5m])")
    assert problems([query], exported, allow_empty=frozenset()) == [
        "q: metric qscaler_kubernetes_errors_total is not exported"
    ]


def test_grafana_variables_annotations_and_legends_are_all_read(tmp_path: Path) -> None:
    dashboard = {
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {
                    "name": "ns",
                    "type": "query",
                    "query": {"query": "label_values(qscaler_queue_messages, nmspace)"},
                },
            ]
        },
        "annotations": {
            "list": [
                {"builtIn": 1, "name": "Annotations & Alerts"},
                {"name": "moves", "expr": "qscaler_leader", "titleFormat": "{{reason}}"},
            ]
        },
        "panels": [
            {
                "type": "row",
                "title": "collapsed",
                "panels": [
                    {
                        "title": "inside",
                        "targets": [{"refId": "A", "expr": "qscaler_nope", "legendFormat": "x"}],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps(dashboard))
    found = problems(dashboard_queries(path), Exported.parse(SCRAPE), allow_empty=frozenset())
    assert sorted(found) == [
        "annotation 'moves': printed {{...}} label 'reason' is not in the result of qscaler_leader{}",
        "panel 'inside' target A: metric qscaler_nope is not exported",
        "variable $ns: label_values lists label 'nmspace' is not in the result of "
        "qscaler_queue_messages{}",
    ]


def test_unknown_grafana_query_is_refused_not_skipped(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(
        json.dumps(
            {
                "templating": {
                    "list": [{"name": "m", "type": "query", "query": "metrics(qscaler_.*)"}]
                }
            }
        )
    )
    with pytest.raises(ValueError, match="unsupported Grafana variable query"):
        dashboard_queries(path)


def test_rule_annotations_count_as_printed_labels(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: max(qscaler_queue_messages) > 1\n"
        "    annotations:\n      summary: '{{ $labels.workload }} is big'\n"
    )
    (query,) = rules_queries(path)
    assert query.printed == {"workload"}
    assert references(query).metrics == {"qscaler_queue_messages"}
    assert any(
        "'workload'" in f
        for f in problems([query], Exported.parse(SCRAPE), allow_empty=frozenset())
    )
