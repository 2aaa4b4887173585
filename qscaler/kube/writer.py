"""Make the writes a `Plan` asks for: the scale subresource and the HPA floor.

Replica counts go through `…/scale` (RBAC `deployments/scale`,
`statefulsets/scale`), never a full update of the workload: qscaler touches
one field and needs no permission on the rest. HPA floors are JSON merge
patches carrying the HPA's resourceVersion, so a concurrent edit makes the
write fail with 409 instead of overwriting it; the write is then planned
again from a fresh read (a few times) before the conflict is reported.

Every write first asks `may_write()`: a process that lost its Lease makes no
further write, even mid-plan.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from qscaler.core.actuation import Plan, baseline, plan
from qscaler.core.annotations import ORIGINAL_MIN_REPLICAS, RAISED_MIN_REPLICAS
from qscaler.core.workload import Hpa, Workload
from qscaler.errors import KubeConflict, KubeError, NotLeader
from qscaler.kube.client import translate, unreachable
from qscaler.manifests import hpa_from

log = logging.getLogger("qscaler.writer")

MERGE_PATCH = "application/merge-patch+json"
CONFLICT_RETRIES = 3
#: (connect, read) seconds for one write: a hung apiserver must not stall the loop.
WRITE_TIMEOUT = (5.0, 10.0)
_SCALE_RESOURCE = {"Deployment": "deployments/scale", "StatefulSet": "statefulsets/scale"}


class KubeWriter:
    """Implements the loop's ScaleWriter against the Kubernetes API."""

    def __init__(
        self,
        api: client.ApiClient,
        may_write: Callable[[], bool] = lambda: True,
        field_manager: str = "qscaler",
    ) -> None:
        self.apps = client.AppsV1Api(api)
        self.autoscaling = client.AutoscalingV2Api(api)
        self.may_write = may_write
        self.field_manager = field_manager

    def apply(self, workload: Workload, hpa: Hpa | None, planned: Plan) -> None:
        """HPA floor first (so a workload woken from 0 meets its floor), then replicas."""
        if hpa is not None and (planned.hpa_floor is not None or planned.restore_hpa):
            self._write_hpa(workload, hpa, planned)
        if planned.replicas is not None:
            self._scale(workload, planned.replicas)

    def release(self, hpa: Hpa, planned: Plan) -> None:
        """Restore the original floor of an HPA whose workload opted out."""
        self._patch_hpa(hpa, planned)

    def _scale(self, workload: Workload, replicas: int) -> None:
        ref = workload.ref
        resource = _SCALE_RESOURCE.get(ref.kind, f"{ref.kind.lower()}s/scale")
        patch = (
            self.apps.patch_namespaced_stateful_set_scale
            if ref.kind == "StatefulSet"
            else self.apps.patch_namespaced_deployment_scale
        )
        self._call(
            "patch", resource, patch, ref.name, ref.namespace,
            {"spec": {"replicas": replicas}},
        )  # fmt: skip

    def _write_hpa(self, workload: Workload, hpa: Hpa, planned: Plan) -> None:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self._patch_hpa(hpa, planned)
                return
            except KubeConflict:
                if attempt == CONFLICT_RETRIES:
                    raise
                fresh = self._read_hpa(hpa)
                if fresh is None:
                    return  # the HPA was deleted: nothing to floor
                hpa, planned = fresh, plan(planned.desired, workload, fresh)
                log.info(
                    "HPA %s/%s changed under us; re-planned from a fresh read",
                    hpa.namespace,
                    hpa.name,
                )
                if planned.hpa_floor is None and not planned.restore_hpa:
                    return

    def _patch_hpa(self, hpa: Hpa, planned: Plan) -> None:
        if planned.restore_hpa:
            minimum = baseline(hpa)
            original: str | None = None
            raised: str | None = None
        else:
            assert planned.hpa_floor is not None
            minimum, original = planned.hpa_floor, str(planned.hpa_original)
            raised = str(planned.hpa_floor)
        body = {
            "metadata": {
                "resourceVersion": hpa.resource_version,
                "annotations": {ORIGINAL_MIN_REPLICAS: original, RAISED_MIN_REPLICAS: raised},
            },
            "spec": {"minReplicas": minimum},
        }
        self._call(
            "patch", "horizontalpodautoscalers",
            self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            hpa.name, hpa.namespace, body,
        )  # fmt: skip

    def _read_hpa(self, hpa: Hpa) -> Hpa | None:
        try:
            fresh = self.autoscaling.read_namespaced_horizontal_pod_autoscaler(
                hpa.name, hpa.namespace, _preload_content=False, _request_timeout=WRITE_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise translate(exc, "get", "horizontalpodautoscalers") from exc
        return hpa_from(json.loads(fresh.data))

    def _call(self, verb: str, resource: str, method: Any, *args: Any) -> None:
        if not self.may_write():
            raise NotLeader(f"lost the leader Lease before {verb} {resource}; not written")
        try:
            method(
                *args,
                _content_type=MERGE_PATCH,
                field_manager=self.field_manager,
                _preload_content=False,
                _request_timeout=WRITE_TIMEOUT,
            )
        except ApiException as exc:
            raise translate(exc, verb, resource) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(verb, resource, 0, unreachable(exc)) from exc
