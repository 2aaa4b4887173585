"""The status document: every binding's policy, last observation and decision.

`/status` serves it as JSON, `qscaler status` fetches it and `qscaler plan`
builds it from its one cycle; all three print it with `render_table`, so the
table a user sees is the same wherever it comes from. No credentials are in
it: it is built from outcomes, which never hold any.
"""

from __future__ import annotations

from typing import Any

from qscaler.outcome import CycleReport, Outcome


def status_document(report: CycleReport | None) -> dict[str, Any]:
    """The JSON-ready status of the last cycle."""
    if report is None:
        return {"leader": None, "cycle": None, "workloads": []}
    return {
        "leader": report.leader,
        "cycle": {
            "duration_seconds": round(report.finished_at - report.started_at, 6),
            "source_errors": dict(report.source_errors),
        },
        "workloads": [_workload(o) for o in report.outcomes],
    }


def _workload(o: Outcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "namespace": o.ref.namespace,
        "workload": o.ref.name,
        "kind": o.ref.kind,
        "spec_replicas": o.workload.replicas,
        "hpa": o.hpa.name if o.hpa else None,
        "error": o.error,
        "held": o.held,
        "written": o.written,
        "reason": o.reason.value if o.reason else None,
    }
    if o.policy is not None:
        p = o.policy
        entry["policy"] = {
            "vhost": p.queues.vhost,
            "queues": p.queues.describe(),
            "messages_per_replica": p.messages_per_replica,
            "target_drain_seconds": p.target_drain_seconds,
            "min_replicas": p.min_replicas,
            "max_replicas": p.max_replicas,
            "cooldown_seconds": p.cooldown_seconds,
            "mode": p.mode.value,
        }
    if o.observation is not None:
        entry["observation"] = {
            "queues": len(o.observation.queues),
            "messages_ready": sum(q.messages_ready for q in o.observation.queues),
            "messages_unacknowledged": sum(q.messages_unacknowledged for q in o.observation.queues),
            "publish_rate": _sum_rates([q.publish_rate for q in o.observation.queues]),
            "ack_rate": _sum_rates([q.ack_rate for q in o.observation.queues]),
            "missing": list(o.observation.missing),
        }
    if o.decision is not None:
        d = o.decision
        entry["decision"] = {
            "current": d.current,
            "desired": d.desired,
            "recommended": d.recommended,
            "reason": d.reason.value,
            "message": d.message,
        }
    if o.plan is not None:
        entry["applied"] = o.plan.applied
    return entry


def _sum_rates(rates: list[float | None]) -> float | None:
    known = [r for r in rates if r is not None]
    return round(sum(known), 3) if known else None


def render_table(document: dict[str, Any]) -> str:
    """A fixed-width table of the status document, one row per workload."""
    header = (
        "WORKLOAD",
        "QUEUES",
        "READY",
        "UNACKED",
        "PUB/S",
        "ACK/S",
        "CURRENT→DESIRED",
        "REASON",
    )
    rows = [header, *(_row(w) for w in document["workloads"])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    for w in document["workloads"]:
        if w.get("error"):
            lines.append(f"  {w['namespace']}/{w['workload']}: {w['error']}")
    return "\n".join(lines)


def _row(w: dict[str, Any]) -> tuple[str, ...]:
    policy = w.get("policy") or {}
    obs = w.get("observation") or {}
    decision = w.get("decision")
    move = f"{decision['current']} → {decision['desired']}" if decision else "-"
    if w.get("held") and decision and decision["current"] != decision["desired"]:
        move += f" ({w['held']})"
    queues = policy.get("queues", "-")
    if policy.get("vhost", "/") != "/":
        queues = f"{policy['vhost']}:{queues}"
    return (
        f"{w['namespace']}/{w['workload']}",
        _shorten(queues, 40),
        _num(obs.get("messages_ready")),
        _num(obs.get("messages_unacknowledged")),
        _num(obs.get("publish_rate")),
        _num(obs.get("ack_rate")),
        move,
        w.get("reason") or "-",
    )


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
