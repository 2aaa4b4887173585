"""Read workloads and HPAs from their JSON/YAML form.

The watch delivers objects as JSON and `--bindings FILE` accepts manifests as
YAML; both become the same small `Workload` and `Hpa` values here. Plain
dictionary parsing, no Kubernetes client, so the file mode and the simulator
need no cluster libraries at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qscaler.core.workload import ORIGINAL_MIN_ANNOTATION, Hpa, Workload, WorkloadRef

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
    original = annotations.get(ORIGINAL_MIN_ANNOTATION)
    return Hpa(
        namespace=namespace,
        name=metadata.get("name", ""),
        target=WorkloadRef(namespace, target.get("name", ""), target["kind"]),
        min_replicas=int(spec.get("minReplicas") or 1),
        max_replicas=int(spec.get("maxReplicas") or 1),
        original_min=int(original) if original and original.isdigit() else None,
        resource_version=str(metadata.get("resourceVersion", "")),
    )
