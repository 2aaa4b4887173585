"""Read a running qscaler's `/status`: from a URL, or through the API server.

In a cluster, qscaler's HTTP port is not exposed outside it. The API server's
service proxy reaches it with the user's own kubeconfig
(`/api/v1/namespaces/qscaler-system/services/qscaler-metrics:http/proxy/status`),
so `qscaler status` needs no port-forward: that is the default, and `--url`
reads a qscaler that is reachable directly (local, compose, a port-forward).
The user needs `get` on `services/proxy` in qscaler's namespace.

Of the two replicas only the leader decides; the standby's status has no
workloads. The service proxy picks a replica at random, so a standby's answer
is asked again a few times before it is shown.

The Kubernetes client is imported only when it is used, so that `--url` and
the commands that merely list this module's defaults stay light.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from qscaler.errors import KubeError, QscalerError, SettingsError

#: deploy/base's Service in front of qscaler's HTTP port.
DEFAULT_SERVICE = "qscaler-system/qscaler-metrics"
SERVICE_PORT_NAME = "http"
#: Answers read through the service proxy before settling for a standby's.
STANDBY_RETRIES = 6


class StatusUnavailable(QscalerError):
    """A running qscaler's /status could not be read."""


def read_url(url: str, timeout: float) -> dict[str, Any]:
    """GET `url`/status."""
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"--url {url}: must start with http:// or https://")
    target = url.rstrip("/") + "/status"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as response:  # noqa: S310 - checked
            return _document(response.read(), target)
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise StatusUnavailable(f"cannot read {target}: {reason}") from None
    except ValueError as exc:  # urllib's word for a URL it cannot parse (http://[::1)
        raise SettingsError(f"--url {url}: not a URL ({exc})") from None


def read_through_api(
    service: str, kubeconfig: Path | None, context: str | None, timeout: float
) -> dict[str, Any]:
    """GET /status through the API server's service proxy, preferring the leader's."""
    namespace, name = _service(service)
    import urllib3
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from qscaler.kube.client import make_api_client, translate, unreachable

    api = make_api_client(kubeconfig, context=context)
    core = client.CoreV1Api(api)
    resource = "services/proxy"
    document: dict[str, Any] = {}
    for _ in range(STANDBY_RETRIES):
        try:
            response = core.connect_get_namespaced_service_proxy_with_path(
                f"{name}:{SERVICE_PORT_NAME}", namespace, "status",
                _preload_content=False, _request_timeout=timeout,
            )  # fmt: skip
        except ApiException as exc:
            exists = _service_exists(core, namespace, name) if exc.status == 404 else None
            failure = _proxy_failure(translate(exc, "get", resource), service, exists)
            raise StatusUnavailable(failure) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            why = f"{unreachable(exc)} ({api.configuration.host})"
            raise KubeError("get", resource, 0, why) from None
        document = _document(response.data, f"service {service}")
        if document.get("leader"):
            break
    return document


def _service(service: str) -> tuple[str, str]:
    namespace, _, name = service.rpartition("/")
    if not namespace or not name:
        raise SettingsError(f"--service {service}: give it as NAMESPACE/NAME")
    return namespace, name


def _service_exists(core: Any, namespace: str, name: str) -> bool | None:
    """Whether the Service exists (None: we may not read it).

    The proxy answers 404 both without the Service and without its Endpoints
    object, in the same words, so only a read of the Service tells them apart.
    """
    from kubernetes.client.exceptions import ApiException

    try:
        core.read_namespaced_service(name, namespace)
    except ApiException as exc:
        return False if exc.status == 404 else None
    return True


def _proxy_failure(error: KubeError, service: str, exists: bool | None) -> str:
    no_pods = f"Service {service} has no ready qscaler behind it: is qscaler running?"
    if error.status == 404 and exists is False:
        return f"no Service {service}: is qscaler installed there? (--service NAMESPACE/NAME)"
    if error.status == 404 and exists:
        return no_pods
    if error.status == 404:
        return f"no Service {service}, or no qscaler behind it ({error})"
    if error.status == 503:
        return f"{no_pods} ({error})"
    return f"cannot read qscaler's status through the API server: {error}"


def _document(body: bytes, source: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not _workloads(document.get("workloads")):
        raise StatusUnavailable(f"{source} did not answer with qscaler's status document")
    return document


def _workloads(entries: object) -> bool:
    """Whether `entries` is a list of workloads, each naming its namespace and
    name: what `status` filters and `explain` looks up by, so that anything
    else at /status is one line instead of a traceback while printing."""
    return isinstance(entries, list) and all(
        isinstance(w, dict) and isinstance(w.get("namespace"), str)
        and isinstance(w.get("workload"), str)
        for w in entries
    )  # fmt: skip
