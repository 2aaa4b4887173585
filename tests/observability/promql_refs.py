"""What the dashboard and the alert rules ask Prometheus for, and whether qscaler exports it.

A dashboard panel that names a metric qscaler does not export is an empty
graph nobody notices until an incident; an alert on a misspelt metric never
fires. So every PromQL expression in deploy/grafana and deploy/prometheus is
parsed with a real PromQL parser (`promql-parser`, the Python binding of
GreptimeDB's Rust parser) rather than scanned with regular expressions, and
the references are compared with what a real qscaler process served on
/metrics:

* every metric name a selector names must be exported;
* every label a selector matches on must be one of that metric's labels;
* every label of a `by (...)`, `on (...)` or `group_left (...)` clause must be
  a label of the metrics it groups;
* every `{{label}}` of a Grafana legend or alert annotation must survive to
  the expression's result (a label dropped by `sum by` renders as nothing).

Grafana's own syntax is translated first: `$__rate_interval` and friends
become a duration, `label_values(selector, label)` variable queries become a
selector plus a label reference. Anything else Grafana-specific is refused
loudly rather than skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser as pp
import yaml
from prometheus_client.parser import text_string_to_metric_families

#: Labels Prometheus attaches to every scraped series (the target's), so an
#: expression may use them although qscaler does not export them.
TARGET_LABELS = frozenset({"job", "instance"})
#: Series Prometheus itself makes for every scrape target (not on /metrics).
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

#: Grafana's interval variables, and the duration that stands in for them.
_GRAFANA_DURATIONS = re.compile(
    r"\$(?:__rate_interval|__interval|__range)\b|\$\{__(?:rate_interval|interval|range)\}"
)
_LABEL_VALUES = re.compile(
    r"^\s*label_values\((?:(?P<selector>.+),)?\s*(?P<label>\w+)\s*\)\s*$", re.S
)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$", re.S)
_TEMPLATE_LABEL = re.compile(r"\{\{\s*\$?(?:labels\.)?(\w+)\s*\}\}")
#: Functions whose result has no labels at all.
_LABELLESS = frozenset({"time", "vector", "scalar", "pi", "day_of_month", "day_of_week",
                        "days_in_month", "hour", "minute", "month", "year", "timestamp_s"})  # fmt: skip


@dataclass(frozen=True)
class Query:
    """One expression and where it was found (for failure messages)."""

    where: str
    expr: str
    #: Labels a legend, title or annotation template prints from the result.
    printed: frozenset[str] = frozenset()
    #: For a `label_values(selector, label)` variable: the label it lists.
    lists: str | None = None


@dataclass
class Exported:
    """What one scrape of /metrics served: label names of every sample name."""

    labels: dict[str, set[str]] = field(default_factory=dict)
    #: Sample names of families announced by HELP/TYPE that have no sample yet.
    empty: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, text: str) -> Exported:
        """Read the Prometheus text format (as client_python serves it)."""
        exported = cls()
        for family in text_string_to_metric_families(text):
            if not family.samples:
                suffix = "_total" if family.type == "counter" else ""
                exported.empty.add(family.name + suffix)
            for sample in family.samples:
                exported.labels.setdefault(sample.name, set()).update(sample.labels)
        return exported

    def has(self, metric: str) -> bool:
        """The metric has at least one sample."""
        return metric in self.labels


# --- finding the queries -------------------------------------------------------------


def dashboard_queries(path: Path) -> list[Query]:
    """Every PromQL expression of a Grafana dashboard: panel targets (legends
    included), template variable queries and annotation queries."""
    dashboard = json.loads(path.read_text())
    queries: list[Query] = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            queries.append(_variable_query(variable))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("builtIn"):
            continue
        target = annotation.get("target") or {}
        expr = annotation.get("expr") or target.get("expr")
        if not expr:
            raise ValueError(f"annotation {annotation.get('name')!r} has no expr")
        printed = _printed(annotation.get("titleFormat"), annotation.get("textFormat"))
        printed |= {t.strip() for t in (annotation.get("tagKeys") or "").split(",") if t.strip()}
        queries.append(Query(f"annotation {annotation['name']!r}", expr, printed))
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" not in target:
                raise ValueError(f"panel {panel.get('title')!r} has a target without expr")
            legend = target.get("legendFormat")
            queries.append(
                Query(
                    f"panel {panel.get('title')!r} target {target.get('refId')}",
                    target["expr"],
                    _printed(None if legend == "__auto" else legend),
                )
            )
    return queries


def rules_queries(path: Path) -> list[Query]:
    """Every rule expression of a Prometheus rules file, with the labels its
    annotations print (`{{ $labels.x }}`)."""
    document = yaml.safe_load(path.read_text())
    groups = document["spec"]["groups"] if "spec" in document else document["groups"]
    queries = []
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            annotations = rule.get("annotations", {})
            printed = frozenset(
                m for text in annotations.values() for m in re.findall(r"\$labels\.(\w+)", text)
            )
            queries.append(Query(f"rule {name!r}", rule["expr"], printed))
    return queries


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows hold their panels


def _variable_query(variable: Mapping[str, Any]) -> Query:
    query = variable["query"]
    text = query["query"] if isinstance(query, dict) else query
    where = f"variable ${variable['name']}"
    if match := _LABEL_VALUES.match(text):
        selector = match["selector"]
        if not selector:
            raise ValueError(f"{where}: label_values without a metric scans every series")
        return Query(where, selector, lists=match["label"])
    if match := _QUERY_RESULT.match(text):
        return Query(where, match["expr"])
    raise ValueError(f"{where}: unsupported Grafana variable query {text!r}")


def _printed(*templates: str | None) -> frozenset[str]:
    return frozenset(m for t in templates if t for m in _TEMPLATE_LABEL.findall(t))


# --- what an expression references -------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """A label the query needs: on the metric of a selector (`metric`), or in
    the result of a sub-expression (`under`: `by`, `on`, `group_left` clauses)."""

    label: str
    use: str
    metric: str | None = None
    under: pp.Expr | None = None


@dataclass
class References:
    """The metric names a query selects and the labels it needs."""

    metrics: set[str] = field(default_factory=set)
    claims: list[Claim] = field(default_factory=list)


def parse(expr: str) -> pp.Expr:
    """Parse PromQL, with Grafana's interval variables replaced by a duration."""
    return pp.parse(_GRAFANA_DURATIONS.sub("5m", expr))


def references(query: Query) -> References:
    """Walk the expression: selectors, grouping clauses, printed labels."""
    refs = References()
    tree = parse(query.expr)
    _collect(tree, refs)
    if query.lists is not None:
        refs.claims.append(Claim(query.lists, "label_values lists", under=tree))
    for label in sorted(query.printed):
        refs.claims.append(Claim(label, "printed {{...}}", under=tree))
    return refs


def _collect(node: pp.Expr, refs: References) -> None:
    if isinstance(node, pp.VectorSelector):
        name = _name(node)
        if name is None:
            raise ValueError(f"selector without a fixed metric name: {node}")
        refs.metrics.add(name)
        for matcher in node.matchers.matchers:
            if matcher.name != "__name__":
                refs.claims.append(Claim(matcher.name, "matcher", metric=name))
        return
    if isinstance(node, pp.AggregateExpr) and node.modifier is not None:
        for label in node.modifier.labels:
            refs.claims.append(Claim(label, f"{node.op} by/without", under=node.expr))
    if isinstance(node, pp.BinaryExpr) and node.modifier is not None:
        modifier = node.modifier
        if modifier.matching is not None:
            for label in modifier.matching.labels:
                refs.claims.append(Claim(label, "on/ignoring", under=node.lhs))
                refs.claims.append(Claim(label, "on/ignoring", under=node.rhs))
        for label in modifier.group_labels or ():
            side = node.rhs if _left(modifier) else node.lhs
            refs.claims.append(Claim(label, "group_left/right", under=side))
    for child in _children(node):
        _collect(child, refs)


def _left(modifier: pp.BinModifier) -> bool:
    return bool(modifier.card == pp.VectorMatchCardinality.ManyToOne)


def _children(node: pp.Expr) -> list[pp.Expr]:
    if isinstance(node, pp.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return [node.expr]
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    return []


def _name(selector: pp.VectorSelector) -> str | None:
    if selector.name:
        return str(selector.name)
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == pp.MatchOp.Equal:
            return str(matcher.value)
    return None


def _metrics(node: pp.Expr) -> Iterator[str]:
    if isinstance(node, pp.VectorSelector):
        name = _name(node)
        if name is not None:
            yield name
    for child in _children(node):
        yield from _metrics(child)


def output_labels(node: pp.Expr, exported: Exported) -> set[str]:
    """The label names the expression's result series can carry."""
    if isinstance(node, pp.VectorSelector | pp.MatrixSelector):
        return _selected(node, exported)
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return output_labels(node.expr, exported)
    if isinstance(node, pp.NumberLiteral | pp.StringLiteral):
        return set()
    for kind, rule in _RULES:
        if isinstance(node, kind):
            return rule(node, exported)
    raise ValueError(f"unknown PromQL node {type(node).__name__}: {node}")


def _selected(node: pp.VectorSelector | pp.MatrixSelector, exported: Exported) -> set[str]:
    if isinstance(node, pp.MatrixSelector):
        node = node.vector_selector
    name = _name(node) or ""
    if name in SCRAPE_SERIES:
        return set(TARGET_LABELS)
    return set(exported.labels.get(name, set())) | TARGET_LABELS


def _aggregated(node: pp.AggregateExpr, exported: Exported) -> set[str]:
    inner = output_labels(node.expr, exported)
    op = str(node.op).lower()
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        return inner
    if node.modifier is None:
        grouped: set[str] = set()
    elif node.modifier.type == pp.AggModifierType.By:
        grouped = set(node.modifier.labels)
    else:
        grouped = inner - set(node.modifier.labels)
    if op == "count_values" and isinstance(node.param, pp.StringLiteral):
        grouped.add(node.param.val)
    return grouped


def _called(node: pp.Call, exported: Exported) -> set[str]:
    name = node.func.name
    if name in _LABELLESS:
        return set()
    if name in {"absent", "absent_over_time"}:
        selector = node.args[0]
        if isinstance(selector, pp.MatrixSelector):
            selector = selector.vector_selector
        if not isinstance(selector, pp.VectorSelector):
            return set()
        return {
            m.name
            for m in selector.matchers.matchers
            if m.op == pp.MatchOp.Equal and m.name != "__name__"
        }
    vectors = [a for a in node.args if not isinstance(a, pp.NumberLiteral | pp.StringLiteral)]
    labels = output_labels(vectors[0], exported) if vectors else set()
    if name == "histogram_quantile":
        labels.discard("le")
    if name in ("label_replace", "label_join"):
        labels.add(node.args[1].val)
    return labels


def _combined(node: pp.BinaryExpr, exported: Exported) -> set[str]:
    lhs, rhs = output_labels(node.lhs, exported), output_labels(node.rhs, exported)
    lhs_scalar = _is_scalar(node.lhs)
    if lhs_scalar or _is_scalar(node.rhs):
        return rhs if lhs_scalar else lhs
    op = str(node.op).strip().lower()
    if op == "or":
        return lhs | rhs
    modifier = node.modifier
    if op in ("and", "unless") or modifier is None or modifier.matching is None:
        return lhs
    comparison = op in ("==", "!=", ">", "<", ">=", "<=") and not modifier.return_bool
    matching = set(modifier.matching.labels)
    on = modifier.matching.type == pp.LabelModifierType.Include
    if modifier.card == pp.VectorMatchCardinality.OneToOne:
        if comparison:
            return lhs
        return (lhs & matching) if on else (lhs - matching)
    group = set(modifier.group_labels or ())
    return (lhs | group) if _left(modifier) else (rhs | group)


_RULES: tuple[tuple[type, Callable[[Any, Exported], set[str]]], ...] = (
    (pp.AggregateExpr, _aggregated),
    (pp.Call, _called),
    (pp.BinaryExpr, _combined),
)


def _is_scalar(node: pp.Expr) -> bool:
    if isinstance(node, pp.NumberLiteral):
        return True
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _is_scalar(node.expr)
    if isinstance(node, pp.Call):
        return node.func.name in ("time", "scalar", "pi")
    if isinstance(node, pp.BinaryExpr):
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    return False


# --- comparing with a scrape ---------------------------------------------------------


def problems(queries: list[Query], exported: Exported, *, allow_empty: frozenset[str]) -> list[str]:
    """Everything the queries reference that the scrape does not show.

    A metric in `allow_empty` may be announced (HELP/TYPE) without samples;
    labels that depend on it cannot be checked from this scrape and are
    skipped (the caller checks them against a scrape that has samples).
    """
    found: list[str] = []
    for query in queries:
        refs = references(query)
        for metric in sorted(refs.metrics - SCRAPE_SERIES):
            if not exported.has(metric) and not (
                metric in allow_empty and metric in exported.empty
            ):
                found.append(f"{query.where}: metric {metric} is not exported")
        for claim in refs.claims:
            if claim.metric is not None:
                known = exported.labels.get(claim.metric, set()) | TARGET_LABELS
                if exported.has(claim.metric) and claim.label not in known:
                    found.append(
                        f"{query.where}: {claim.use} label {claim.label!r} is not a label "
                        f"of {claim.metric}"
                    )
                continue
            assert claim.under is not None
            under = set(_metrics(claim.under)) - SCRAPE_SERIES
            if not all(exported.has(m) for m in under):
                continue
            if claim.label not in output_labels(claim.under, exported):
                found.append(
                    f"{query.where}: {claim.use} label {claim.label!r} is not in the result "
                    f"of {claim.under}"
                )
    return found
