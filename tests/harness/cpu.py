"""Simulated CPU load for the CPU-HPA tests, and the timeline they assert on.

The test control plane runs a real metrics pipeline: kwok reports each pod's
CPU from the pod's `kwok.x-k8s.io/usage-cpu` annotation (tests/k8s/kwok-metrics.yaml),
metrics-server scrapes it every 10 s, and the real HPA controller sizes from
it. `CpuLoad` plays the application: a total CPU demand spread evenly over
the workload's pods, as a load balancer would spread requests, so adding
pods lowers each pod's usage and the HPA settles where a real one would.
`HpaTimeline` samples what everyone did, once a second.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.harness.k8s import ControlPlane

log = logging.getLogger(__name__)
USAGE_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
MERGE_PATCH = "application/merge-patch+json"


def cpu_deployment(
    plane: ControlPlane,
    namespace: str,
    name: str,
    replicas: int,
    annotations: dict[str, str],
    labels: dict[str, str],
    cpu_request: str | None = "1",
) -> None:
    """A Deployment whose container requests `cpu_request` (None: no request)."""
    resources = {"requests": {"cpu": cpu_request}} if cpu_request else {}
    container = {"name": "consumer", "image": "fake.invalid/consumer", "resources": resources}
    plane.apps().create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": name, "annotations": annotations, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [container]},
                },
            },
        },
    )


def cpu_hpa(
    plane: ControlPlane,
    namespace: str,
    name: str,
    target: str,
    min_replicas: int,
    max_replicas: int,
    utilization: int = 50,
    scale_down_window: int | None = None,
) -> None:
    """An autoscaling/v2 HPA on CPU utilization, scaling up fast (the tests are
    about who sets the count, not about the HPA's default scale-up rate)."""
    behavior: dict[str, Any] = {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 20, "periodSeconds": 1}],
        }
    }
    if scale_down_window is not None:
        behavior["scaleDown"] = {"stabilizationWindowSeconds": scale_down_window}
    metric = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}}
    plane.autoscaling().create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "metrics": [{"type": "Resource", "resource": metric}],
                "behavior": behavior,
            },
        },
    )


class CpuLoad:
    """Keep `millicores` of CPU demand spread over the app's live pods.

    Every half second each running pod's usage annotation is set to
    total / pods (only when it changed). Stop it with `stop()`.
    """

    def __init__(self, plane: ControlPlane, namespace: str, app: str, millicores: int) -> None:
        self.namespace, self.app = namespace, app
        self.millicores = millicores
        self._core = plane.core()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def set(self, millicores: int) -> None:
        self.millicores = millicores

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._spread()
            except Exception as exc:  # the apiserver may be busy or restarting: next round
                log.debug("CPU load not spread this round: %s", exc)

    def _spread(self) -> None:
        pods = [
            p
            for p in self._core.list_namespaced_pod(
                self.namespace, label_selector=f"app={self.app}"
            ).items
            if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
        ]
        if not pods:
            return
        each = f"{max(1, self.millicores // len(pods))}m"
        for pod in pods:
            if (pod.metadata.annotations or {}).get(USAGE_ANNOTATION) != each:
                self._core.patch_namespaced_pod(
                    pod.metadata.name,
                    self.namespace,
                    {"metadata": {"annotations": {USAGE_ANNOTATION: each}}},
                    _content_type=MERGE_PATCH,
                )


@dataclass(frozen=True, slots=True)
class Sample:
    """One second of the story: what CPU wants, what the queue wants, what ran."""

    t: float
    replicas: int  # the Deployment's spec.replicas
    floor: int  # the HPA's minReplicas
    hpa_max: int
    cpu_utilization: int | None  # the HPA's reported average, % of request
    #: What CPU asks for once every pod is measured: ceil(cores used, summed
    #: from metrics.k8s.io, / (target utilization × request)). The HPA itself
    #: gets there over a few syncs (it discounts pods not yet measured).
    cpu_desired: int | None
    queue_desired: int | None  # qscaler_replicas_recommended
    able_to_scale: str  # the reason of the HPA's AbleToScale condition


class HpaTimeline:
    """Samples the Deployment, its HPA, pod CPU and the queue's demand every second."""

    def __init__(
        self,
        plane: ControlPlane,
        namespace: str,
        name: str,
        queue_desired: Callable[[], float | None],
        cpu_request: float = 1.0,
    ) -> None:
        self.plane, self.namespace, self.name = plane, namespace, name
        self.cpu_request = cpu_request
        self.queue_desired = queue_desired
        self.samples: list[Sample] = []
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.samples.append(self._sample())
            except Exception as exc:  # a busy apiserver: skip this second
                log.debug("timeline sample skipped: %s", exc)

    def _sample(self) -> Sample:
        hpa = self.plane.read_hpa(self.namespace, self.name)
        status = hpa.get("status") or {}
        utilization = _cpu_utilization(status)
        target = hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]
        used = self._cpu_used()
        queue = self.queue_desired()
        return Sample(
            t=round(time.monotonic() - self._start, 1),
            replicas=self.plane.replicas(self.namespace, self.name),
            floor=int(hpa["spec"].get("minReplicas", 1)),
            hpa_max=int(hpa["spec"]["maxReplicas"]),
            cpu_utilization=utilization,
            cpu_desired=None
            if used is None
            else math.ceil(used / (self.cpu_request * target / 100) - 1e-9),
            queue_desired=None if queue is None else int(queue),
            able_to_scale=_condition_reason(status, "AbleToScale"),
        )

    def _cpu_used(self) -> float | None:
        """Cores the workload's pods use, summed from the metrics API."""
        listed = client.CustomObjectsApi(self.plane.api()).list_namespaced_custom_object(
            "metrics.k8s.io", "v1beta1", self.namespace, "pods", label_selector=f"app={self.name}"
        )
        usages = [c["usage"]["cpu"] for p in listed["items"] for c in p["containers"]]
        return sum(map(cores, usages)) if usages else None

    def last(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def stop(self, save_to: Path | None = None) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=15)
        if save_to is not None:
            save_to.write_text(json.dumps([asdict(s) for s in self.samples], indent=0) + "\n")
        return self.samples


def _cpu_utilization(status: dict[str, Any]) -> int | None:
    for metric in status.get("currentMetrics") or []:
        resource = metric.get("resource") or {}
        if resource.get("name") == "cpu":
            value = (resource.get("current") or {}).get("averageUtilization")
            return None if value is None else int(value)
    return None


def _condition_reason(status: dict[str, Any], kind: str) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("reason", ""))
    return ""


def cores(quantity: str) -> float:
    """A CPU quantity as metrics-server writes it ("251234567n", "251m", "2")."""
    scale = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
    if quantity[-1] in scale:
        return float(quantity[:-1]) * scale[quantity[-1]]
    return float(quantity)
