"""Read workloads and HPAs from their JSON/YAML form.

The watch delivers objects as JSON and `--bindings FILE` accepts manifests as
YAML; both become the same small `Workload` and `Hpa` values here. Plain
dictionary parsing, no Kubernetes client, so the file mode and the simulator
need no cluster libraries at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qscaler.core.annotations import ORIGINAL_MIN_REPLICAS, RAISED_MIN_REPLICAS
from qscaler.core.workload import Hpa, Workload, WorkloadRef

SCALABLE_KINDS = ("Deployment", "StatefulSet")


def workload_from(obj: Mapping[str, Any], kind: str) -> Workload | None:
    """A Workload from a Deployment or StatefulSet as JSON."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    replicas = spec.get("replicas")
    return Workload(
        ref=WorkloadRef(metadata.get("namespace", ""), metadata.get("name", ""), kind),
        replicas=1 if replicas is None else int(replicas),
        ready_replicas=int(status.get("readyReplicas") or 0),
        annotations=dict(metadata.get("annotations") or {}),
        uid=str(metadata.get("uid", "")),
        resource_version=str(metadata.get("resourceVersion", "")),
    )


def _count(annotation: str | None) -> int | None:
    return int(annotation) if annotation and annotation.isdigit() else None


def hpa_from(obj: Mapping[str, Any]) -> Hpa | None:
    """An Hpa from an autoscaling/v2 HPA as JSON; None unless it targets a workload kind."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    if target.get("kind") not in SCALABLE_KINDS or not str(target.get("apiVersion", "")).startswith(
        "apps/"
    ):
        return None
    namespace = metadata.get("namespace", "")
    annotations = metadata.get("annotations") or {}
    return Hpa(
        namespace=namespace,
        name=metadata.get("name", ""),
        target=WorkloadRef(namespace, target.get("name", ""), target["kind"]),
        min_replicas=int(spec.get("minReplicas") or 1),
        max_replicas=int(spec.get("maxReplicas") or 1),
        original_min=_count(annotations.get(ORIGINAL_MIN_REPLICAS)),
        raised_min=_count(annotations.get(RAISED_MIN_REPLICAS)),
        resource_version=str(metadata.get("resourceVersion", "")),
    )


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether `labels` match a Kubernetes label selector, as the API server
    would filter a watch: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`,
    `k notin (a,b)`, joined by commas (all must hold)."""
    return all(_requirement(term.strip(), labels) for term in _terms(selector) if term.strip())


def _terms(selector: str) -> list[str]:
    """Split on the commas that are not inside a set's parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [*terms, current]


def _requirement(term: str, labels: Mapping[str, str]) -> bool:
    words = term.split(None, 1)
    if len(words) == 2 and words[1].startswith(("in ", "in(", "notin ", "notin(")):
        operator, values = words[1].split("(", 1) if "(" in words[1] else (words[1], "")
        wanted = {v.strip() for v in values.rstrip(")").split(",")}
        present = labels.get(words[0]) in wanted
        return present if operator.strip() == "in" else not present
    for operator in ("!=", "==", "="):
        if operator in term:
            key, value = (part.strip() for part in term.split(operator, 1))
            return (labels.get(key) == value) != (operator == "!=")
    if term.startswith("!"):
        return term[1:].strip() not in labels
    return term in labels
