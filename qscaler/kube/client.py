"""The Kubernetes API client qscaler uses, and the translation of its errors.

`CountingApiClient` is the official client with one addition: every request
is counted by verb, resource and HTTP status (the scale benchmark's "zero API
calls per cycle at steady state" is read from this, and so is the
`qscaler_kubernetes_requests_total` metric). `translate` turns the client's
`ApiException` into the `KubeError` tree with the verb and resource named, so a
403 tells the operator exactly which RBAC rule is missing.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from qscaler.errors import KubeConflict, KubeError, KubeForbidden, KubeNotFound, SettingsError

#: Called with (verb, resource, status) after every request; status 0 when
#: the server was not reached.
RequestHook = Callable[[str, str, int], None]


class CountingApiClient(client.ApiClient):  # type: ignore[misc]
    """The official ApiClient, counting every request it makes."""

    def __init__(self, configuration: Any = None, hook: RequestHook | None = None) -> None:
        super().__init__(configuration)
        self.hook = hook
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Make the request and count it."""
        verb, resource = describe_request(method, url)
        status = 0
        try:
            response = super().call_api(method, url, *args, **kwargs)
            status = int(getattr(response, "status", 0) or 0)
            return response
        except ApiException as exc:
            status = int(exc.status or 0)
            raise
        finally:
            with self._lock:
                self.counts[(verb, resource, status)] += 1
            if self.hook is not None:
                self.hook(verb, resource, status)


def describe_request(method: str, url: str) -> tuple[str, str]:
    """The RBAC verb and resource of a request: ("patch", "deployments/scale")."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["api"]:
        segments = segments[2:]
    elif segments[:1] == ["apis"]:
        segments = segments[3:]
    if len(segments) >= 2 and segments[0] == "namespaces" and len(segments) > 2:
        segments = segments[2:]
    resource = segments[0] if segments else "/"
    if len(segments) >= 3:
        resource += "/" + segments[2]
    method = method.upper()
    if method == "GET":
        watching = parse_qs(parts.query).get("watch", [""])[0] in ("true", "1")
        verb = "watch" if watching else ("list" if len(segments) == 1 else "get")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            method, method.lower()
        )
    return verb, resource


def make_api_client(
    kubeconfig: Path | None, hook: RequestHook | None = None, context: str | None = None
) -> CountingApiClient:
    """A client from the kubeconfig given, else in-cluster, else ~/.kube/config
    (or `KUBECONFIG`), with `context` when given: kubectl's order.

    No usable configuration is a `SettingsError` in one line, not the
    client's traceback.
    """
    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and _in_cluster(configuration):
            pass
        else:
            config.load_kube_config(
                config_file=None if kubeconfig is None else str(kubeconfig),
                context=context,
                client_configuration=configuration,
            )
    except (config.ConfigException, OSError, ValueError) as exc:
        raise SettingsError(_no_configuration(kubeconfig, context, exc)) from None
    # No hidden retries under our own: the reflector backs off, the lease
    # must see a failure within its deadline, a failed write is retried by
    # the next cycle with fresh data.
    configuration.retries = 0
    return CountingApiClient(configuration, hook)


def _in_cluster(configuration: Any) -> bool:
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        return False
    return True


def _no_configuration(kubeconfig: Path | None, context: str | None, exc: Exception) -> str:
    if kubeconfig is None and context is None and "No configuration found" in str(exc):
        return (
            "no Kubernetes configuration: not running in a cluster and no kubeconfig found "
            "(give --kubeconfig or --context, set KUBECONFIG or QSCALER_KUBECONFIG, "
            "or read workloads from a file with --bindings FILE)"
        )
    where = f"kubeconfig {kubeconfig}" if kubeconfig is not None else "the kubeconfig"
    detail = str(exc).replace("Invalid kube-config file. ", "")
    if context is not None and "Expected object with name" in detail:
        detail = f"it has no context named {context!r}"
    return f"cannot use {where}: {detail}"


def unreachable(exc: BaseException) -> str:
    """Why a request never got an answer, in a few words ("Connection refused").

    urllib3's message nests the pool, the URL and an object's repr; the
    operating system's reason at its core is what a user can act on.
    """
    text = str(getattr(exc, "reason", None) or exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    return type(exc).__name__


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def translate(exc: ApiException, verb: str, resource: str) -> KubeError:
    """The KubeError for a failed call, naming what was attempted."""
    status = int(exc.status or 0)
    detail = _message(exc)
    if status == 403:
        return KubeForbidden(verb, resource, status, detail)
    if status == 404:
        return KubeNotFound(verb, resource, status, detail)
    if status == 409:
        return KubeConflict(verb, resource, status, detail)
    return KubeError(verb, resource, status, detail)


def _message(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            message = json.loads(body).get("message")
            if message:
                return str(message)
        except (ValueError, AttributeError):
            pass
    return str(exc.reason or "no detail")
