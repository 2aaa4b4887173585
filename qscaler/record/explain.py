"""`qscaler explain WORKLOAD`: one workload's status, told as sentences.

The table of `qscaler status` shows every workload on one line; when one of
them does not do what its owner expects, they need the whole story: what its
annotations say, what qscaler last read from RabbitMQ, what it decided with
the arithmetic, and what (if anything) holds it back. It is built from the
same status document, so it says nothing `/status` does not.
"""

from __future__ import annotations

from typing import Any

from qscaler.core.reasons import HELD_BACK
from qscaler.errors import ConfigError

#: Why a planned write was not made (the document's `held`), in words.
_HELD_WORDS = {
    "DryRun": "DryRun: the write was planned and not made (mode dry-run or QSCALER_DRY_RUN)",
    "Paused": "Paused (qscaler.io/mode: paused)",
    "NotLeader": "NotLeader: this instance does not hold the Lease; the leader writes",
}


def find_workload(document: dict[str, Any], name: str, namespace: str | None) -> dict[str, Any]:
    """The one workload called `name` (`namespace/name` also works); a
    `ConfigError` (the name the user typed) when none or several are."""
    if "/" in name:
        namespace, name = name.split("/", 1)
    found = [
        w for w in document.get("workloads", [])
        if w["workload"] == name and namespace in (None, w["namespace"])
    ]  # fmt: skip
    if len(found) == 1:
        workload: dict[str, Any] = found[0]
        return workload
    if not found:
        where = f" in namespace {namespace}" if namespace else ""
        raise ConfigError(f"no workload {name}{where} is bound to qscaler")
    spaces = ", ".join(sorted(w["namespace"] for w in found))
    raise ConfigError(f"{name} is in several namespaces ({spaces}): give -n NAMESPACE")


def render_explain(w: dict[str, Any]) -> str:
    """The sentences for one workload of the status document."""
    lines = [
        ("Workload", _workload(w)),
        ("Binding", _binding(w.get("policy"))),
        ("Observed", _observed(w.get("observation"))),
        ("Decision", _decision(w)),
        ("Held back", _held_back(w)),
        ("Written", _written(w)),
    ]
    return "\n".join(f"{label + ':':<11}{text}" for label, text in lines)


def _workload(w: dict[str, Any]) -> str:
    hpa = f", under HPA {w['hpa']} (qscaler sets its minReplicas)" if w.get("hpa") else ""
    return (
        f"{w['namespace']}/{w['workload']} ({w['kind']}), spec.replicas {w['spec_replicas']}{hpa}"
    )


def _binding(policy: dict[str, Any] | None) -> str:
    if policy is None:
        return "invalid: see the message under Decision"
    sizing = [
        f"{policy['messages_per_replica']:g} messages per replica"
        if policy.get("messages_per_replica") else "",
        f"drain within {policy['target_drain_seconds']:g}s"
        if policy.get("target_drain_seconds") else "",
    ]  # fmt: skip
    return (
        f"queues {policy['queues']} in vhost {policy['vhost']}; "
        f"{' and '.join(s for s in sizing if s)}; replicas {policy['min_replicas']}–"
        f"{policy['max_replicas']}; cooldown {policy['cooldown_seconds']:g}s; mode {policy['mode']}"
    )


def _observed(obs: dict[str, Any] | None) -> str:
    if obs is None:
        return "nothing read (the binding is invalid)"
    if obs.get("error"):
        return f"unknown: the last read failed ({obs['error']})"
    if obs.get("messages_ready") is None:
        missing = ", ".join(obs.get("missing") or []) or "none matched"
        return f"unknown: a bound queue is not in the broker ({missing})"
    pairs = (("publish", "publish_rate"), ("ack", "ack_rate"))
    rates = ", ".join(f"{n} {obs[k]:g}/s" for n, k in pairs if obs.get(k) is not None)
    return (
        f"{obs['queues']} queue(s): {obs['messages_ready']} ready, "
        f"{obs['messages_unacknowledged']} unacknowledged{'; ' + rates if rates else ''}"
    )


def _decision(w: dict[str, Any]) -> str:
    d = w.get("decision")
    if d is None:
        return f"{w.get('reason') or 'none'}: {w.get('message') or 'no decision'}"
    return f"{d['current']} → {d['desired']} ({d['reason']}): {d['message']}"


def _held_back(w: dict[str, Any]) -> str:
    why = []
    if w.get("reason") in {r.value for r in HELD_BACK}:
        why.append(w["reason"])
    if w.get("held"):
        why.append(_HELD_WORDS.get(w["held"], w["held"]))
    return "; ".join(why) or "nothing"


def _written(w: dict[str, Any]) -> str:
    if w.get("written"):
        return f"yes: {w.get('applied')} replicas"
    if w.get("held") and w.get("planned") is not None:
        return f"no: planned {w['planned']}, held back"
    return "no: nothing to change" if not w.get("error") else "no"
