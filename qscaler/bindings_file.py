"""Bindings from a YAML file, for `plan` and `run` without a cluster.

Two shapes are accepted, so users can point qscaler at what they already have:

* Kubernetes manifests (one or many documents): every Deployment or
  StatefulSet in them, with its annotations and spec.replicas, and every
  autoscaling/v2 HPA;
* a short list for experiments::

      workloads:
        - name: orders-worker          # namespace defaults to "default"
          replicas: 2                  # default 1
          annotations:
            qscaler.io/queues: orders
            qscaler.io/messages-per-replica: "100"
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.errors import SettingsError
from qscaler.manifests import SCALABLE_KINDS, hpa_from, workload_from


class StaticCluster:
    """A ClusterView over fixed workloads (and HPAs)."""

    def __init__(self, workloads: Sequence[Workload], hpas: Sequence[Hpa] = ()) -> None:
        self._workloads = list(workloads)
        self._hpas = list(hpas)

    def workloads(self) -> Sequence[Workload]:
        """The workloads read from the file."""
        return self._workloads

    def hpas(self) -> Sequence[Hpa]:
        """The HPAs read from the file."""
        return self._hpas


def load_bindings(path: Path) -> StaticCluster:
    """Read a bindings file; a `SettingsError` names the file and the problem."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"bindings file {path}: {exc}") from exc
    workloads: list[Workload] = []
    hpas: list[Hpa] = []
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise SettingsError(f"bindings file {path}: document {index + 1} is not a mapping")
        if "workloads" in document:
            workloads.extend(_short_form(path, document["workloads"]))
        elif document.get("kind") in SCALABLE_KINDS:
            workload = workload_from(document, document["kind"])
            if workload is not None:
                workloads.append(_defaulted(workload))
        elif document.get("kind") == "HorizontalPodAutoscaler":
            hpa = hpa_from(document)
            if hpa is not None:
                hpas.append(hpa)
    return StaticCluster(workloads, hpas)


def _defaulted(workload: Workload) -> Workload:
    if workload.ref.namespace:
        return workload
    ref = WorkloadRef("default", workload.ref.name, workload.ref.kind)
    return Workload(ref, workload.replicas, workload.ready_replicas, workload.annotations)


def _short_form(path: Path, entries: Any) -> list[Workload]:
    if not isinstance(entries, list):
        raise SettingsError(f"bindings file {path}: 'workloads' must be a list")
    workloads = []
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry:
            raise SettingsError(f"bindings file {path}: every workload needs a name: {entry!r}")
        annotations = entry.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise SettingsError(
                f"bindings file {path}: annotations of {entry['name']} must be a mapping"
            )
        replicas = entry.get("replicas", 1)
        if not isinstance(replicas, int) or replicas < 0:
            raise SettingsError(
                f"bindings file {path}: replicas of {entry['name']} must be a whole number"
            )
        ref = WorkloadRef(
            str(entry.get("namespace", "default")),
            str(entry["name"]),
            str(entry.get("kind", "Deployment")),
        )
        workloads.append(
            Workload(ref, replicas, replicas, {str(k): str(v) for k, v in annotations.items()})
        )
    return workloads
