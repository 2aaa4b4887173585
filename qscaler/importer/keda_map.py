"""One KEDA ScaledObject → the label and annotations qscaler needs, and why.

`convert` is pure: objects in, a `Conversion` out. Every setting it reads
leaves a sentence, either in `carried` (what it became, with the arithmetic)
or in `lost` (why qscaler cannot carry it over), so the user can check the
translation line by line. The annotations it produces are parsed by
qscaler's own binding parser before they are printed: an importer that
emitted something qscaler would reject is a bug, not a user error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qscaler.core import annotations as ann
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.errors import BindingError
from qscaler.importer import keda_behavior, keda_sizing
from qscaler.importer.keda_objects import (
    KedaObjects,
    SpecProblem,
    count,
    mapping,
    name_of,
    namespace_of,
)
from qscaler.importer.keda_removal import removal_plan
from qscaler.importer.keda_trigger import RabbitTrigger, read_trigger

SCALABLE = ("Deployment", "StatefulSet")
KEDA_DEFAULT_MAX = 100
PAUSED = "autoscaling.keda.sh/paused"
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
TRANSFER_OWNERSHIP = "scaledobject.keda.sh/transfer-hpa-ownership"
_RESOURCE_TRIGGERS = ("cpu", "memory")


@dataclass(slots=True)
class Conversion:  # built step by step by convert(), then only read
    """The translation of one ScaledObject."""

    scaled_object: str  # namespace/name
    namespace: str
    kind: str
    name: str
    annotations: dict[str, str] = field(default_factory=dict)
    carried: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    removal: list[str] = field(default_factory=list)
    error: str | None = None  # nothing could be converted, and why
    where: str = ""  # the broker its triggers read: a URL, or where the URL lives
    host: str | None = None  # that URL when the trigger shows it


def convert(so: Mapping[str, Any], objects: KedaObjects) -> Conversion:
    """Translate one ScaledObject (with the authentications in `objects`)."""
    namespace, spec = namespace_of(so), mapping(so.get("spec"))
    target = mapping(spec.get("scaleTargetRef"))
    out = Conversion(
        f"{namespace or '-'}/{name_of(so)}", namespace,
        str(target.get("kind") or "Deployment"), str(target.get("name") or ""),
    )  # fmt: skip
    if not out.name:
        out.error = "spec.scaleTargetRef.name is missing"
        return out
    if out.kind not in SCALABLE:
        out.error = f"targets a {out.kind}: qscaler scales Deployments and StatefulSets"
        return out
    try:
        _translate(so, spec, objects, out)
    except SpecProblem as exc:  # a field KEDA would refuse: only this object stops
        out.error = str(exc)
    return out


def _translate(
    so: Mapping[str, Any], spec: Mapping[str, Any], objects: KedaObjects, out: Conversion
) -> None:
    rabbit = _rabbit_triggers(spec, out.namespace, objects, out)
    if not rabbit:
        out.error = "has no rabbitmq trigger: nothing for qscaler to read"
        return
    kept = _queues(rabbit, out)
    keda_sizing.size(kept, out.annotations, out.carried, out.lost)
    low, high = _replica_bounds(spec, out)
    _timing(spec, low, high, out)
    _fallback(spec, out)
    _paused(mapping(mapping(so.get("metadata")).get("annotations")), out)
    _process_wide(spec, rabbit, out)
    check(out)
    out.removal = removal_plan(so, out)


def _rabbit_triggers(
    spec: Mapping[str, Any], namespace: str, objects: KedaObjects, out: Conversion
) -> list[RabbitTrigger]:
    found = []
    triggers = spec.get("triggers") or []
    if not isinstance(triggers, list):
        raise SpecProblem(f"spec.triggers is a {type(triggers).__name__}, not a list")
    for index, raw in enumerate(triggers, start=1):
        trigger = mapping(raw)
        kind = str(trigger.get("type"))
        if kind == "rabbitmq":
            found.append(read_trigger(index, trigger, namespace, objects))
        elif kind in _RESOURCE_TRIGGERS:
            out.lost.append(
                f"trigger {index} ({kind}): stays with a {kind.upper()} HPA; qscaler raises that "
                "HPA's minReplicas by queue depth, so the HPA runs max(CPU, queue) "
                "(see the removal plan)"
            )
        else:
            out.lost.append(f"trigger {index} ({kind}): qscaler reads only RabbitMQ")
    return found


def _queues(rabbit: list[RabbitTrigger], out: Conversion) -> list[RabbitTrigger]:
    """Bind the queues of the triggers that share the first one's vhost and broker."""
    first = rabbit[0]
    kept = [t for t in rabbit if (t.vhost, t.where) == (first.vhost, first.where)]
    for t in rabbit:
        if t not in kept:
            out.lost.append(
                f"trigger {t.index} (rabbitmq, queue {t.queue}): reads vhost {t.vhost} on "
                f"{t.where}, but a qscaler workload binds one vhost on one broker "
                f"(kept: {first.vhost} on {first.where}); split the workload or move the queue"
            )
    out.where, out.host = first.where, first.host
    names = [f"re:{t.queue}" if t.use_regex else t.queue for t in kept]
    out.annotations[ann.QUEUES] = ",".join(dict.fromkeys(names))
    out.carried.append(
        "queues " + ", ".join(f"{n} (trigger {t.index})" for n, t in zip(names, kept, strict=True))
    )
    if first.vhost != "/":
        out.annotations[ann.VHOST] = first.vhost
    out.carried.append(f"vhost {first.vhost} from " + ("vhostName or host" if first.host else
                       "vhostName (or / when the host is not visible here)"))  # fmt: skip
    _aggregate(kept, out)
    if any(t.exclude_unacked or t.protocol == "amqp" for t in kept):
        out.annotations[ann.COUNT] = "ready"
        out.carried.append(
            "count ready: excludeUnacknowledged, or the AMQP protocol, which counts ready "
            "messages only"
        )
    return kept


def _aggregate(kept: list[RabbitTrigger], out: Conversion) -> None:
    regex_ops = {t.operation for t in kept if t.use_regex}
    if len(kept) == 1 and regex_ops == {"sum"}:
        return  # qscaler's default aggregate is sum too
    if len(kept) > 1 or regex_ops & {"max", "avg"}:
        out.annotations[ann.AGGREGATE] = "max"
        out.carried.append(
            "aggregate max: the HPA takes the largest of several triggers' replica counts, "
            "which is ceil(largest backlog / value) when the values are equal"
            if len(kept) > 1
            else "aggregate max from operation"
        )
    if "avg" in regex_ops:
        out.lost.append(
            "operation avg: qscaler sums or takes the largest of matched queues; max was used, "
            "which never sizes below the average"
        )
    if len(kept) > 1 and "sum" in regex_ops:
        out.lost.append(
            "operation sum over a regex, beside other triggers: qscaler has one aggregate per "
            "workload; max was used"
        )


def _replica_bounds(spec: Mapping[str, Any], out: Conversion) -> tuple[int, int]:
    """min-replicas and max-replicas, always written: KEDA's defaults are not qscaler's."""
    low = count(spec.get("minReplicaCount", 0), "spec.minReplicaCount")
    high = count(spec.get("maxReplicaCount", KEDA_DEFAULT_MAX), "spec.maxReplicaCount")
    if low > high:
        raise SpecProblem(f"spec.minReplicaCount {low} is above spec.maxReplicaCount {high}")
    idle = spec.get("idleReplicaCount")
    if idle is not None and count(idle, "spec.idleReplicaCount") == 0 and low > 0:
        out.lost.append(
            f"idleReplicaCount 0 with minReplicaCount {low}: qscaler has no idle count; "
            "min-replicas 0 keeps scale to zero, but not the floor of "
            f"{low} while messages arrive"
        )
        low = 0
    out.annotations[ann.MIN_REPLICAS] = str(low)
    out.annotations[ann.MAX_REPLICAS] = str(high)
    out.carried.append(f"min-replicas {low}, max-replicas {high} (KEDA's defaults are 0 and 100)")
    return low, high


def _timing(spec: Mapping[str, Any], low: int, high: int, out: Conversion) -> None:
    """The cooldown and the per-minute limits, from cooldownPeriod and the HPA's behavior;
    the limits are those `selectPolicy` picks at the middle of min..max."""
    hpa = mapping(mapping(spec.get("advanced")).get("horizontalPodAutoscalerConfig"))
    behavior = mapping(hpa.get("behavior"))
    middle = max(1, (low + high) // 2)
    for carried, key in (
        (keda_behavior.cooldown(spec, behavior, low), ann.COOLDOWN),
        (keda_behavior.limit(behavior, "up", middle), ann.SCALE_UP_LIMIT),
        (keda_behavior.limit(behavior, "down", middle), ann.SCALE_DOWN_LIMIT),
    ):
        if carried.value is not None:
            out.annotations[key] = carried.value
        out.carried.extend(carried.said)
        out.lost.extend(carried.lost)
    if not behavior:
        out.carried.append(
            "no HPA behavior: qscaler's defaults apply (scale-up and scale-down unlimited "
            "beyond the cooldown window) where KEDA's HPA could double every 15 s"
        )
    if spec.get("initialCooldownPeriod"):
        out.lost.append(
            f"initialCooldownPeriod {spec['initialCooldownPeriod']}: qscaler never scales "
            "down on data it has not yet seen, so no start-up delay is needed"
        )


def _fallback(spec: Mapping[str, Any], out: Conversion) -> None:
    fallback = mapping(spec.get("fallback"))
    if not fallback:
        return
    low, high = int(out.annotations[ann.MIN_REPLICAS]), int(out.annotations[ann.MAX_REPLICAS])
    replicas = count(fallback.get("replicas", 0), "spec.fallback.replicas")
    held = min(max(replicas, low), high)
    out.annotations[ann.FALLBACK_REPLICAS] = str(held)
    clamped = "" if held == replicas else f" (clamped into {low}..{high})"
    out.carried.append(f"fallback-replicas {held}{clamped} from fallback.replicas {replicas}")
    threshold = count(fallback.get("failureThreshold", 3), "spec.fallback.failureThreshold")
    out.lost.append(
        f"fallback.failureThreshold {threshold}: process-wide in qscaler; KEDA falls back after "
        f"more than {threshold} failures, so set QSCALER_FALLBACK_AFTER_FAILURES={threshold + 1}"
    )
    behavior = str(fallback.get("behavior") or "static")
    if behavior != "static":
        out.lost.append(
            f"fallback.behavior {behavior}: qscaler's fallback only ever raises the count "
            "(like currentReplicasIfHigher)"
        )


def _paused(annotations: Mapping[str, Any], out: Conversion) -> None:
    if str(annotations.get(PAUSED, "")).lower() == "true" or PAUSED_REPLICAS in annotations:
        out.annotations[ann.MODE] = "paused"
        out.carried.append("mode paused from " + (PAUSED if PAUSED in annotations else
                                                  PAUSED_REPLICAS))  # fmt: skip
    if PAUSED_REPLICAS in annotations:
        out.lost.append(
            f"{PAUSED_REPLICAS} {annotations[PAUSED_REPLICAS]}: qscaler pauses at the current "
            f"count; scale to {annotations[PAUSED_REPLICAS]} yourself (kubectl scale)"
        )
    for key in ("autoscaling.keda.sh/paused-scale-in", "autoscaling.keda.sh/paused-scale-out"):
        if key in annotations:
            out.lost.append(f"{key}: qscaler pauses both directions or none (mode: paused)")


def _process_wide(spec: Mapping[str, Any], rabbit: list[RabbitTrigger], out: Conversion) -> None:
    if "pollingInterval" in spec:
        out.lost.append(
            f"pollingInterval {spec['pollingInterval']}: process-wide in qscaler "
            "(QSCALER_POLL_INTERVAL_SECONDS, 5 s by default, the broker's stats interval)"
        )
    for t in rabbit:
        for key, value in t.settings.items():
            out.lost.append(f"trigger {t.index} {key} {value}: {_SETTING_HOMES[key]}")
        for key, where in sorted(t.hidden.items()):
            if key == "*":
                out.lost.append(
                    f"trigger {t.index} authenticationRef {where}; add it to the input "
                    "(kubectl get … -o yaml) to see what it provides"
                )
            else:
                out.lost.append(f"trigger {t.index} {key} comes from {where}: {_hidden_home(key)}")
        if t.credentials_in_url:
            out.lost.append(
                f"trigger {t.index} host carries credentials (not printed): put them in a "
                "Secret mounted as files and set QSCALER_USERNAME_FILE/QSCALER_PASSWORD_FILE"
            )


_SETTING_HOMES = {
    "pageSize": "qscaler lists a vhost in one request (QSCALER_MANAGEMENT_PAGE_SIZE to page)",
    "timeout": "process-wide in qscaler (QSCALER_REQUEST_TIMEOUT_SECONDS)",
    "unsafeSsl": "process-wide in qscaler (QSCALER_TLS_VERIFY=false, if you must)",
}


def _hidden_home(key: str) -> str:
    homes = {
        "host": "point QSCALER_MANAGEMENT_URL (or QSCALER_AMQP_URL) at that broker",
        "username": "mount it as a file and set QSCALER_USERNAME_FILE",
        "password": "mount it as a file and set QSCALER_PASSWORD_FILE",
        "ca": "mount it as a file and set QSCALER_TLS_CA_FILE",
        "vhostName": "set qscaler.io/vhost to its value (the importer cannot read it)",
    }
    return homes.get(key, "not carried over: qscaler authenticates with a username and password")


def check(out: Conversion, brokers: tuple[str, ...] = (DEFAULT_BROKER,)) -> None:
    """Parse the translation with qscaler's own parser (knowing `brokers`)."""
    try:
        parse_binding(out.annotations, ProcessDefaults(brokers=brokers))
    except BindingError as exc:  # the importer's own mistake: say so, do not print it
        out.error = f"internal error, the translation is not valid for qscaler: {exc}"
