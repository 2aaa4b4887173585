"""The cluster as qscaler sees it: watch caches of workloads and HPAs.

Deployments and StatefulSets are watched with the opt-in label selector, so
the server filters them; HPAs are watched unfiltered (they belong to the user
and carry no qscaler label) to find the one targeting each workload. With
`namespaces` set, one watch per namespace (the namespaced install's Role only
grants those); otherwise one cluster-wide watch per kind.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from qscaler.core.workload import Hpa, Workload
from qscaler.errors import KubeError
from qscaler.kube.client import translate, unreachable
from qscaler.kube.watch import Reflector
from qscaler.manifests import hpa_from, workload_from


class ClusterCache:
    """Implements the loop's ClusterView from watch caches."""

    def __init__(
        self, api: client.ApiClient, label_selector: str, namespaces: Sequence[str] = ()
    ) -> None:
        apps = client.AppsV1Api(api)
        autoscaling = client.AutoscalingV2Api(api)
        self.workload_reflectors: list[Reflector[Workload]] = []
        self.hpa_reflectors: list[Reflector[Hpa]] = []
        scopes: Sequence[str | None] = list(namespaces) or [None]
        for ns in scopes:
            kinds = (
                ("Deployment", apps.list_deployment_for_all_namespaces,
                 apps.list_namespaced_deployment),
                ("StatefulSet", apps.list_stateful_set_for_all_namespaces,
                 apps.list_namespaced_stateful_set),
            )  # fmt: skip
            for kind, everywhere, namespaced in kinds:
                call = _scoped(everywhere, namespaced, ns, label_selector=label_selector)
                convert = functools.partial(workload_from, kind=kind)
                self.workload_reflectors.append(Reflector(f"{kind}:{ns or '*'}", call, convert))
            hpa_call = _scoped(
                autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces,
                autoscaling.list_namespaced_horizontal_pod_autoscaler,
                ns,
            )
            self.hpa_reflectors.append(Reflector(f"HPA:{ns or '*'}", hpa_call, hpa_from))

    def reflectors(self) -> list[Reflector[Any]]:
        """Every reflector, workloads first."""
        return [*self.workload_reflectors, *self.hpa_reflectors]

    def start(self) -> None:
        """Start every watch on its own thread."""
        for reflector in self.reflectors():
            reflector.start()

    def list_once(self, server: str) -> None:
        """Fill every cache with one list each, or raise a `KubeError` saying
        which list failed and why; `server` names the API server in it."""
        for reflector in self.reflectors():
            resource = reflector.name.split(":")[0].lower() + "s"
            try:
                reflector.list_once()
            except ApiException as exc:
                raise translate(exc, "list", resource) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise KubeError("list", resource, 0, f"{unreachable(exc)} ({server})") from None

    def stop(self) -> None:
        """Stop every watch."""
        for reflector in self.reflectors():
            reflector.stop()

    def synced(self) -> bool:
        """True once every watch has listed."""
        return all(r.synced for r in self.reflectors())

    def wait_synced(self, timeout: float) -> bool:
        """Block until every watch has listed, or `timeout` per watch."""
        return all(r.wait_synced(timeout) for r in self.reflectors())

    def workloads(self) -> Sequence[Workload]:
        """Every labelled workload in the caches."""
        return [w for r in self.workload_reflectors for w in r.items()]

    def hpas(self) -> Sequence[Hpa]:
        """Every HPA in the caches that targets a Deployment or StatefulSet."""
        return [h for r in self.hpa_reflectors for h in r.items()]


def _scoped(everywhere: Any, namespaced: Any, namespace: str | None, **kwargs: Any) -> Any:
    if namespace is None:
        return functools.partial(everywhere, **kwargs)
    return functools.partial(namespaced, namespace, **kwargs)
