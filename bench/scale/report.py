"""What the scale benchmark prints: the tables and lines of `bench.scale.run`."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.scale.cpu import Spent

# --- the probe's cost ---------------------------------------------------------------------


def probe_cost_line(probed: dict[str, Any], spent: Spent, rounds: int, most: int) -> str:
    queues = max(1, probed["queues"])
    return (
        f"  probe alone: {probed['sleepers']} workloads at 0 with exact queue names, "
        f"{probed['queues'] / rounds:.0f} queues declared per round (at most {most}); per "
        f"declared queue: qscaler CPU {probed['cpu'] / queues * 1e6:.0f} µs, wall "
        f"{probed['wall'] / queues * 1e6:.0f} µs, broker CPU {spent.net / queues * 1e6:.0f} µs "
        f"net ({spent.raw / queues * 1e6:.0f} raw)"
    )


# --- the broker's cost per observation ---------------------------------------------------

READ_HEADER = "\n".join(
    (
        "",
        "reading the queues, per cycle: requests and the broker's CPU time (net of background;",
        "raw in brackets), qscaler's management source beside the per-queue way (one GET per",
        "bound queue, as KEDA does) and one unpaged listing per vhost (measured apart: what",
        "qscaler sends by default, for comparison when --page-size is set) and one",
        "disable_stats listing per vhost (counts without the statistics database); ratios",
        "are to the per-queue way",
        f"{'cycle':>7} | {'qscaler: req':>12} {'broker CPU s':>17} {'wall s':>6} | "
        f"{'per-queue: req':>14} {'broker CPU s':>17} {'wall s':>6} | {'ratio':>5} | "
        f"{'unpaged: req':>12} {'broker CPU s':>17} {'ratio':>5} | "
        f"{'no-stats: req':>13} {'broker CPU s':>17} {'ratio':>5}",
    )
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One cycle's reading of the queues, three ways."""

    requests: int
    ours: Spent
    per_queue: int
    per_queue_failed: int
    theirs: Spent
    unpaged: int
    unpaged_spent: Spent
    no_stats: int
    no_stats_spent: Spent

    def row(self, label: str) -> str:
        failed = f" ({self.per_queue_failed} failed)" if self.per_queue_failed else ""
        return (
            f"{label:>7} | {self.requests:12d} {_cpu(self.ours):>17} {self.ours.wall:6.1f} | "
            f"{self.per_queue:14d} {_cpu(self.theirs):>17} {self.theirs.wall:6.1f} | "
            f"{_ratio(self.ours.net, self.theirs.net):>5} | {self.unpaged:12d} "
            f"{_cpu(self.unpaged_spent):>17} {_ratio(self.unpaged_spent.net, self.theirs.net):>5}"
            f" | {self.no_stats:13d} {_cpu(self.no_stats_spent):>17} "
            f"{_ratio(self.no_stats_spent.net, self.theirs.net):>5}{failed}"
        )

    @staticmethod
    def summary(rows: Sequence[Reading]) -> str:
        ours = statistics.median(r.ours.net for r in rows)
        theirs = statistics.median(r.theirs.net for r in rows)
        unpaged = statistics.median(r.unpaged_spent.net for r in rows)
        no_stats = statistics.median(r.no_stats_spent.net for r in rows)
        return (
            f"{'median':>7} | {rows[0].requests:12d} {ours:17.2f} {'':6} | {rows[0].per_queue:14d} "
            f"{theirs:17.2f} {'':6} | {_ratio(ours, theirs):>5} | {rows[0].unpaged:12d} "
            f"{unpaged:17.2f} {_ratio(unpaged, theirs):>5} | {rows[0].no_stats:13d} "
            f"{no_stats:17.2f} {_ratio(no_stats, theirs):>5}"
        )


def _cpu(spent: Spent) -> str:
    return f"{spent.net:.2f} ({spent.raw:.2f})"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs > 0 else "-"


# --- qscaler's cost per cycle ----------------------------------------------------------------

CYCLE_HEADER = "\n".join(
    (
        "",
        "qscaler per cycle: wall time, CPU time of the cycle's thread and of the whole process",
        "during the cycle (watch threads included), Kubernetes API requests made meanwhile (Lease",
        "renewals apart), workloads written",
        f"{'cycle':>7} {'wall s':>8} {'CPU ms':>10} {'proc ms':>10}  {'k8s: reads':>10} "
        f"{'writes':>7} {'other':>6} {'lease':>6}  {'written':>7}  reasons",
    )
)


def cycle_row(label: str, cycle: dict[str, Any]) -> str:
    kube: dict[str, int] = cycle["kube"]
    lease = sum(n for k, n in kube.items() if k.endswith(" leases"))
    rest = {k: n for k, n in kube.items() if not k.endswith(" leases")}
    reads = sum(n for k, n in rest.items() if k.split()[0] in ("get", "list"))
    writes = sum(
        n for k, n in rest.items() if k.split()[0] in ("create", "update", "patch", "delete")
    )
    other = sum(rest.values()) - reads - writes
    reasons = ", ".join(
        f"{r} {n}" for r, n in sorted(cycle["reasons"].items(), key=lambda x: -x[1])
    )
    detail = f"  [{', '.join(f'{k} {n}' for k, n in rest.items())}]" if rest else ""
    errors = f"  source errors: {cycle['source_errors']}" if cycle["source_errors"] else ""
    return (
        f"{label:>7} {cycle['wall']:8.2f} {cycle['thread_cpu'] * 1000:10.0f} "
        f"{cycle['process_cpu'] * 1000:10.0f}  {reads:10d} {writes:7d} {other:6d} {lease:6d}  "
        f"{cycle['written']:7d}  {reasons}{detail}{errors}"
    )


def median(rows: Sequence[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)


def usage(what: str, usage: dict[str, float]) -> None:
    print(f"  {what}: peak RSS {usage['max_rss_mb']:.0f} MB (now {usage['rss_mb']:.0f} MB), "
          f"CPU {usage['cpu']:.1f} s", flush=True)  # fmt: skip


def distribution(values: Sequence[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "no bursts (too few idle single-queue workloads at this size)"
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"n={len(ordered)} median {statistics.median(ordered):.2f} s, p90 {p90:.2f} s, "
        f"min {ordered[0]:.2f} s, max {ordered[-1]:.2f} s"
    )
