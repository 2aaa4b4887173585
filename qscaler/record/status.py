"""The status document: every binding's policy, last observation and decision.

`/status` serves it as JSON, `qscaler status` fetches it and `qscaler plan`
builds it from its one cycle; all three print it with `render_table`, so the
table a user sees is the same wherever it comes from. No credentials are in
it: it is built from outcomes, which never hold any.
"""

from __future__ import annotations

from typing import Any

from qscaler.core.model import Decision, Observation
from qscaler.core.policy import Policy
from qscaler.core.reasons import UNTRUSTED_DATA, Reason
from qscaler.outcome import CycleReport, Outcome, in_force

#: Reasons reported as Warning Events; `qscaler plan` and `status` exit 1 on them.
WARNING_REASONS = UNTRUSTED_DATA | {Reason.INVALID_BINDING, Reason.WRITE_FAILED}


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
        "held": o.held.value if o.held else None,
        "written": o.written,
        "reason": o.reason.value if o.reason else None,
        "message": o.error or (o.decision.message if o.decision else None),
        "warning": is_warning(o),
    }
    if o.policy is not None:
        entry["policy"] = _policy(o.policy)
    if o.observation is not None:
        entry["observation"] = _observation(o.observation, o.reason is Reason.QUEUE_MISSING)
    if o.decision is not None:
        entry["decision"] = _decision(o.decision)
        forecast = o.decision.figures.forecast if o.decision.figures else None
        if forecast is not None:
            entry["forecast"] = {
                "replicas": forecast.replicas,
                "period_seconds": forecast.period_seconds or None,
                "trust": forecast.trust,
            }
    if o.plan is not None:
        entry["planned"] = o.plan.applied
        entry["applied"] = o.plan.applied if in_force(o) else None
    return entry


def _policy(p: Policy) -> dict[str, Any]:
    """What `explain` prints as the binding: the settings a reader checks first."""
    return {
        "broker": p.queues.broker,
        "vhost": p.queues.vhost,
        "queues": p.queues.describe(),
        "messages_per_replica": p.messages_per_replica,
        "target_drain_seconds": p.target_drain_seconds,
        "min_replicas": p.min_replicas,
        "max_replicas": p.max_replicas,
        "cooldown_seconds": p.cooldown_seconds,
        "mode": p.mode.value,
        "forecast": p.forecast.value,
    }


def _decision(d: Decision) -> dict[str, Any]:
    return {
        "current": d.current,
        "desired": d.desired,
        "recommended": d.recommended,
        "reason": d.reason.value,
        "message": d.message,
    }


def is_warning(o: Outcome) -> bool:
    """Whether the outcome is one a Warning Event reports: something needs a human."""
    return o.error is not None or o.reason in WARNING_REASONS


def is_troubled(document: dict[str, Any]) -> bool:
    """Whether any workload of a status document has a Warning reason or an
    error (a document from an older qscaler may lack `warning`)."""
    warnings = {r.value for r in WARNING_REASONS}
    return any(
        w.get("warning") or w.get("error") or w.get("reason") in warnings
        for w in document.get("workloads", [])
    ) or bool((document.get("cycle") or {}).get("source_errors"))


def _observation(observation: Observation, queue_missing: bool) -> dict[str, Any]:
    """The observed totals; a failed read's are None ("unknown"), never 0
    (which would read as "empty"), and so are those of a binding with a
    missing queue, or a `re:` that matches none (the sum of the queues that
    exist is not its backlog)."""
    queues = observation.queues
    failed = observation.error is not None or queue_missing
    return {
        "queues": None if failed else len(queues),
        "messages_ready": None if failed else sum(q.messages_ready for q in queues),
        "messages_unacknowledged": (
            None if failed else sum(q.messages_unacknowledged for q in queues)
        ),
        "publish_rate": _sum_rates([q.publish_rate for q in queues]),
        "ack_rate": _sum_rates([q.ack_rate for q in queues]),
        "missing": list(observation.missing),
        "error": observation.error,
    }


def _sum_rates(rates: list[float | None]) -> float | None:
    known = [r for r in rates if r is not None]
    return round(sum(known), 3) if known else None


def render_table(document: dict[str, Any]) -> str:
    """A fixed-width table of the status document, one row per workload.

    Like `kubectl describe hpa`, every row says why: the reason, and the
    message with the arithmetic or the error (the last column, never cut).
    """
    header = (
        "WORKLOAD", "QUEUES", "READY", "UNACKED", "PUB/S", "ACK/S", "CURRENT→DESIRED",
        "REASON", "MESSAGE",
    )  # fmt: skip
    rows = [header, *(_row(w) for w in document["workloads"])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    table = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(table + _forecast_lines(document["workloads"]))


def _forecast_lines(workloads: list[dict[str, Any]]) -> list[str]:
    """One line per workload that has learned a recurring-load period."""
    lines = []
    for w in workloads:
        forecast = w.get("forecast")
        if not forecast or not forecast.get("period_seconds"):
            continue
        shadow = (w.get("policy") or {}).get("forecast") == "shadow"
        due = forecast["replicas"]
        lines.append(
            f"forecast {w['namespace']}/{w['workload']}: period {forecast['period_seconds']:g}s, "
            f"trust {forecast['trust']:.2f}, "
            + (f"{due} replicas due ahead of a burst" if due else "no burst due")
            + (" (shadow: not applied)" if shadow else "")
        )
    return lines


def _row(w: dict[str, Any]) -> tuple[str, ...]:
    policy = w.get("policy") or {}
    obs = w.get("observation")
    decision = w.get("decision")
    move = f"{decision['current']} → {decision['desired']}" if decision else "-"
    if w.get("held") and decision and decision["current"] != decision["desired"]:
        move += f" ({w['held']})"
    queues = policy.get("queues", "-")
    if policy.get("vhost", "/") != "/":
        queues = f"{policy['vhost']}:{queues}"
    if policy.get("broker", "default") != "default":
        queues = f"{policy['broker']}/{queues}"
    counts = [_count(obs, key) for key in ("messages_ready", "messages_unacknowledged")]
    rates = [_num((obs or {}).get(key)) for key in ("publish_rate", "ack_rate")]
    return (
        f"{w['namespace']}/{w['workload']}",
        _shorten(queues, 40),
        *counts,
        *rates,
        move,
        w.get("reason") or "-",
        w.get("message") or "",
    )


def _count(obs: dict[str, Any] | None, key: str) -> str:
    """A message count; "unknown" when the read failed, "-" when nothing was read."""
    if obs is None:
        return "-"
    return "unknown" if obs.get(key) is None else _num(obs[key])


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
