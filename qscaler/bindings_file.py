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

import difflib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from qscaler.core.annotations import ENABLED_LABEL
from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.errors import SettingsError
from qscaler.manifests import SCALABLE_KINDS, hpa_from, selector_matches, workload_from

log = logging.getLogger("qscaler.bindings")
#: The controller's default label selector (`QSCALER_LABEL_SELECTOR`).
DEFAULT_SELECTOR = ENABLED_LABEL + "=true"
#: What a short-form file has at its top; manifests have `kind`.
TOP_LEVEL_KEYS = ("workloads", "kind")


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


def load_bindings(path: Path, label_selector: str = DEFAULT_SELECTOR) -> StaticCluster:
    """Read a bindings file; a `SettingsError` names the file and the problem.

    What would silently do nothing is an error too: a file with no workloads,
    a mistyped top-level key, the same workload twice. A manifest without the
    opt-in label is skipped, as the controller's watch would skip it, and a
    warning says so.
    """
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SettingsError(f"bindings file {path}: {_first_line(exc)}") from None
    workloads: list[Workload] = []
    hpas: list[Hpa] = []
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise SettingsError(f"bindings file {path}: document {index + 1} is not a mapping")
        if "workloads" in document:
            workloads.extend(_short_form(path, document["workloads"]))
        elif document.get("kind") in SCALABLE_KINDS:
            workload = _labelled(path, document, label_selector)
            if workload is not None:
                workloads.append(workload)
        elif document.get("kind") == "HorizontalPodAutoscaler":
            hpa = hpa_from(document)
            if hpa is not None:
                hpas.append(hpa)
        elif "kind" not in document:
            raise SettingsError(f"bindings file {path}: {_unknown_keys(document)}")
    if not workloads and not _skipped(documents, label_selector):
        raise SettingsError(
            f"bindings file {path}: no workloads in it (expected a 'workloads:' list, "
            "or Deployment and StatefulSet manifests)"
        )
    _check_unique(path, workloads)
    return StaticCluster(workloads, hpas)


def _first_line(exc: Exception) -> str:
    """A YAML error's first line (its position), or the OS's reason."""
    if isinstance(exc, OSError):
        return f"cannot read it ({exc.strerror})"
    return " ".join(str(exc).split())


def _labelled(path: Path, document: dict[str, Any], selector: str) -> Workload | None:
    """The manifest's workload, or None (with a warning) when it does not opt in."""
    kind = document["kind"]
    workload = workload_from(document, kind)
    if workload is None:
        return None
    workload = _defaulted(workload)
    labels = (document.get("metadata") or {}).get("labels") or {}
    if selector_matches(selector, labels):
        return workload
    log.warning(
        "bindings file %s: skipping %s %s: its labels do not match %s, so the controller "
        "would not scale it", path, kind, workload.ref, selector,
    )  # fmt: skip
    return None


def _skipped(documents: list[Any], selector: str) -> bool:
    return any(
        isinstance(d, dict)
        and d.get("kind") in SCALABLE_KINDS
        and not selector_matches(selector, (d.get("metadata") or {}).get("labels") or {})
        for d in documents
    )


def _unknown_keys(document: dict[Any, Any]) -> str:
    keys = [str(k) for k in document]
    close = [m for k in keys for m in difflib.get_close_matches(k, TOP_LEVEL_KEYS, n=1)]
    hint = f"did you mean {close[0]!r}?" if close else "expected 'workloads' or a manifest's 'kind'"
    return f"unknown top-level key {keys[0]!r}; {hint}" if keys else "empty document"


def _check_unique(path: Path, workloads: list[Workload]) -> None:
    seen: set[WorkloadRef] = set()
    for workload in workloads:
        if workload.ref in seen:
            raise SettingsError(
                f"bindings file {path}: {workload.ref.kind} {workload.ref} is there twice"
            )
        seen.add(workload.ref)


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
