"""One KEDA `rabbitmq` trigger, with its TriggerAuthentication resolved as far as
a file allows.

KEDA reads a trigger's parameters from its `metadata`, from `*FromEnv`
variables of the target's container, and from a referenced
(Cluster)TriggerAuthentication that points into Secrets, ConfigMaps or the
environment. The importer never reads the cluster, so a parameter that lives
in a Secret is known only by where it lives ("Secret rabbit key host"); the
report says so instead of guessing. A host written in the trigger itself is
kept without its userinfo: credentials are never printed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from qscaler.importer.keda_objects import KedaObjects, SpecProblem, mapping

#: KEDA's value when a rabbitmq trigger sets neither mode, value nor queueLength.
KEDA_DEFAULT_QUEUE_LENGTH = 20.0
QUEUE_LENGTH = "QueueLength"
MESSAGE_RATE = "MessageRate"
DELIVER_GET_RATE = "DeliverGetRate"
PUBLISHED_TO_DELIVERED = "PublishedToDeliveredRatio"
EXPECTED_CONSUMPTION_TIME = "ExpectedQueueConsumptionTime"
MODES = (
    QUEUE_LENGTH, MESSAGE_RATE, DELIVER_GET_RATE, PUBLISHED_TO_DELIVERED, EXPECTED_CONSUMPTION_TIME
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RabbitTrigger:
    """What one rabbitmq trigger asks for, in KEDA's terms."""

    index: int
    queue: str
    use_regex: bool
    operation: str
    mode: str
    value: float
    activation: float
    vhost: str
    host: str | None  # scheme://host:port, no userinfo; None when it lives elsewhere
    host_from: str | None  # where the host lives when not written here
    protocol: str  # amqp, http, or auto when the host is not visible
    exclude_unacked: bool
    metric_type: str
    #: Parameter → where its value lives (a Secret, a ConfigMap, an env var).
    hidden: Mapping[str, str] = field(default_factory=dict)
    #: Parameters written in the open that qscaler sets process-wide.
    settings: Mapping[str, str] = field(default_factory=dict)
    credentials_in_url: bool = False

    @property
    def where(self) -> str:
        """The broker this trigger reads, for messages: its host or where that lives."""
        return self.host or self.host_from or "the default broker"


class TriggerProblem(SpecProblem):
    """A rabbitmq trigger KEDA itself would refuse: the message says why."""


def read_trigger(
    index: int, trigger: Mapping[str, Any], namespace: str, objects: KedaObjects
) -> RabbitTrigger:
    """The rabbitmq trigger at `index` (1-based) with its authentication resolved."""
    meta = {str(k): str(v) for k, v in mapping(trigger.get("metadata")).items()}
    hidden = _auth_params(trigger, namespace, objects)
    for key in [k for k in meta if k.endswith("FromEnv")]:
        hidden[key.removesuffix("FromEnv")] = f"env {meta[key]} of the target's container"
    queue = meta.get("queueName", "")
    if not queue:
        raise TriggerProblem(f"trigger {index} (rabbitmq) has no queueName")
    use_regex = meta.get("useRegex", "false").lower() == "true"
    if use_regex:
        _check_regex(index, queue)
    mode, value = _mode_and_value(index, meta)
    host, credentials, from_url = _host(index, meta.get("host"))
    vhost = meta.get("vhostName") or from_url or "/"
    protocol = meta.get("protocol", "auto")
    if protocol == "auto" and host is not None:
        protocol = "amqp" if host.startswith("amqp") else "http"
    return RabbitTrigger(
        index=index,
        queue=queue,
        use_regex=use_regex,
        operation=meta.get("operation", "sum").lower(),
        mode=mode,
        value=value,
        activation=_number(index, "activationValue", meta.get("activationValue", "0")),
        vhost=vhost,
        host=host,
        host_from=hidden.get("host"),
        protocol=protocol,
        exclude_unacked=meta.get("excludeUnacknowledged", "false").lower() == "true",
        metric_type=str(trigger.get("metricType") or "AverageValue"),
        hidden=hidden,
        settings={k: meta[k] for k in ("pageSize", "timeout", "unsafeSsl") if k in meta},
        credentials_in_url=credentials,
    )


def _check_regex(index: int, queue: str) -> None:
    """A useRegex queueName that does not compile is the user's to fix (KEDA
    refuses it too), not an importer bug for check() to report."""
    try:
        re.compile(queue)
    except re.error as exc:
        raise TriggerProblem(
            f"trigger {index} (rabbitmq) queueName {queue!r} is not a valid regular expression "
            f"({exc})"
        ) from None


def _mode_and_value(index: int, meta: Mapping[str, str]) -> tuple[str, float]:
    if "queueLength" in meta:  # the deprecated spelling of QueueLength + value
        if "mode" in meta or "value" in meta:
            raise TriggerProblem(f"trigger {index} (rabbitmq) sets queueLength with mode/value")
        return QUEUE_LENGTH, _number(index, "queueLength", meta["queueLength"], positive=True)
    mode = meta.get("mode", QUEUE_LENGTH)
    if mode not in MODES:
        raise TriggerProblem(f"trigger {index} (rabbitmq) mode {mode!r} is not one of KEDA's")
    if "value" not in meta:
        if "mode" in meta:
            raise TriggerProblem(f"trigger {index} (rabbitmq) sets mode {mode} without value")
        return QUEUE_LENGTH, KEDA_DEFAULT_QUEUE_LENGTH
    return mode, _number(index, "value", meta["value"], positive=True)


def _number(index: int, key: str, text: str, positive: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 if positive else value >= 0) or value == float("inf"):
        least = "above 0" if positive else "≥ 0"
        raise TriggerProblem(f"trigger {index} (rabbitmq) {key} {text!r} is not a number {least}")
    return value


def _host(index: int, url: str | None) -> tuple[str | None, bool, str | None]:
    """(scheme://host:port without userinfo, whether it carried credentials, its vhost)."""
    if not url:
        return None, False, None
    try:
        parts = urlsplit(url)
        netloc, port = parts.hostname or "", parts.port
    except ValueError:  # the message leaves the URL out: it may carry a password
        raise TriggerProblem(f"trigger {index} (rabbitmq) host is not a URL") from None
    if port:
        netloc = f"{netloc}:{port}"
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1] if parts.path.strip("/") else ""
    vhost = unquote(segment) if segment else None
    return f"{parts.scheme}://{netloc}", parts.username is not None, vhost


def _listed(spec: Mapping[str, Any], section: str, owner: str) -> list[Mapping[str, Any]]:
    """The entries of a list section of an authentication's spec (absent: none)."""
    entries = spec.get(section) or []
    if not isinstance(entries, list):
        raise TriggerProblem(f"{owner}: spec.{section} is a {type(entries).__name__}, not a list")
    return [mapping(entry) for entry in entries]


def _auth_params(
    trigger: Mapping[str, Any], namespace: str, objects: KedaObjects
) -> dict[str, str]:
    ref = mapping(trigger.get("authenticationRef"))
    if not ref:
        return {}
    kind = str(ref.get("kind") or "TriggerAuthentication")
    name = str(ref.get("name") or "")
    auth = objects.auth(kind, namespace, name)
    if auth is None:
        return {"*": f"{kind} {name} (not in the input: its parameters are unknown)"}
    spec = mapping(auth.get("spec"))
    found: dict[str, str] = {}
    for section, what in (("secretTargetRef", "Secret"), ("configMapTargetRef", "ConfigMap")):
        for entry in _listed(spec, section, f"{kind} {name}"):
            found[str(entry.get("parameter"))] = (
                f"{what} {entry.get('name')} key {entry.get('key')}"
            )
    for entry in _listed(spec, "env", f"{kind} {name}"):
        found[str(entry.get("parameter"))] = f"env {entry.get('name')} of the target's container"
    for provider in ("podIdentity", "hashiCorpVault", "azureKeyVault", "awsSecretManager"):
        if provider in spec:
            found[provider] = f"{kind} {name} uses {provider}"
    return found
