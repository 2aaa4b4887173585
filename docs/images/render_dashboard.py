"""Draw docs/images/dashboard.png: the qscaler dashboard's main panels, from a recorded run.

The run is `qscaler demo`'s: qscaler's real control loop (the class
`qscaler run` uses) with a real OutcomeRecorder and Metrics on a simulated broker
and cluster, in simulated time, over the benchmark's one-hour noisy trace.
After every loop cycle the script reads the registry, as a Prometheus
scrape would, and keeps the values; the panels are then drawn with the same
queries the Grafana dashboard runs, computed by hand over those samples:

    queue depth against replicas   qscaler_queue_messages, qscaler_replicas_*
    publish vs ack rate            qscaler_queue_{publish,ack}_messages_per_second
    held back                      qscaler_held_back by reason
    scaling decisions by reason    increase(qscaler_decisions_total{direction!="none"}[1m])
    cycle duration                 quantiles of each cycle's duration

The simulated clock makes qscaler_cycle_duration_seconds zero, so the
latency panel shows the wall-clock time each real cycle took on this machine.
Two pictures are drawn from two runs that differ only in max-replicas: a
healthy one (30: the replicas follow the queue; the README's picture) and one
pinned at max (8: the troubleshooting example of a workload held at `AtMax`
while its queue grows).

    python docs/images/render_dashboard.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator
from prometheus_client import CollectorRegistry

from qscaler.outcome import CycleReport, Outcome
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.sim.controllers import Bounds
from qscaler.sim.demo import default_trace
from qscaler.sim.policy_file import parse_policy
from qscaler.sim.qscaler_controller import WORKLOAD, QscalerController
from qscaler.sim.world import Scenario, World

OUTPUT_DIR = Path(__file__).resolve().parent
#: file name -> the bounds of its run
PICTURES = {
    "dashboard.png": Bounds(min_replicas=1, max_replicas=30),
    "dashboard-at-max.png": Bounds(min_replicas=1, max_replicas=8),
}
LABELS = {"namespace": WORKLOAD.namespace, "workload": WORKLOAD.name, "kind": WORKLOAD.kind}
# Grafana's dark theme, roughly.
BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLORS = {"green": "#73bf69", "yellow": "#fade2a", "blue": "#5794f2", "orange": "#ff9830",
          "red": "#f2495c", "purple": "#b877d9", "grey": "#8e8e8e"}  # fmt: skip
REASON_COLORS = {"ScaleUp": "green", "ScaleFromZero": "green", "ScaleDown": "red",
                 "ScaleToZero": "red", "AtMax": "orange", "Stabilizing": "blue"}  # fmt: skip


@dataclass
class Samples:
    """What a scrape after each cycle would have read."""

    t: list[float] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(default_factory=lambda: defaultdict(list))
    held: list[set[str]] = field(default_factory=list)
    decisions: list[dict[str, float]] = field(default_factory=list)
    cycle_seconds: list[float] = field(default_factory=list)


class Sampling:
    """A Recorder that reports through the real OutcomeRecorder, then samples its registry."""

    GAUGES = (
        ("ready", "qscaler_queue_messages", {"state": "ready"}),
        ("unacked", "qscaler_queue_messages", {"state": "unacknowledged"}),
        ("publish", "qscaler_queue_publish_messages_per_second", {}),
        ("ack", "qscaler_queue_ack_messages_per_second", {}),
        *((what, f"qscaler_replicas_{what}", {}) for what in
          ("spec", "current", "desired", "applied", "min", "max")),
    )  # fmt: skip

    def __init__(self, samples: Samples) -> None:
        self.registry = CollectorRegistry()
        self.reporter = OutcomeRecorder(Metrics(self.registry))
        self.samples = samples
        self.now = 0.0

    def outcome(self, outcome: Outcome) -> None:
        self.reporter.outcome(outcome)

    def source_read(self, vhost: str, error: object, at: float) -> None:
        self.reporter.source_read(vhost, None, at)

    def cycle(self, report: CycleReport) -> None:
        self.reporter.cycle(report)
        s, get = self.samples, self.registry.get_sample_value
        s.t.append(self.now)
        for key, name, extra in self.GAUGES:
            s.values[key].append(get(name, {**LABELS, **extra}))
        held, decisions = set(), {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == "qscaler_held_back" and sample.value == 1:
                    held.add(sample.labels["reason"])
                moved = sample.labels.get("direction") not in (None, "none")
                if sample.name == "qscaler_decisions_total" and moved:
                    decisions[sample.labels["reason"]] = sample.value
        s.held.append(held)
        s.decisions.append(decisions)


def record(bounds: Bounds) -> Samples:
    """Play the demo's trace through the real loop and sample every cycle."""
    samples = Samples()
    sampling = Sampling(samples)
    policy_text = (resources.files("qscaler.sim") / "default_policy.yaml").read_text()
    controller = QscalerController(parse_policy(policy_text), bounds, recorder=sampling)
    world = World(default_trace(), Scenario())
    while not world.done:
        snapshot = world.observe()
        sampling.now = world.now
        before, started = controller.last_report, time.perf_counter()
        desired = controller.act(world.now, snapshot, world.spec_replicas)
        if controller.last_report is not before:
            samples.cycle_seconds.append(time.perf_counter() - started)
        if desired != world.spec_replicas:
            world.set_replicas(desired)
        world.advance()
    return samples


def _style(ax: Axes, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, fontsize=10, loc="left", pad=6)
    ax.tick_params(colors=TEXT, labelsize=8)
    ax.grid(color=GRID, linewidth=0.6)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _legend(ax: Axes, loc: Literal["upper left", "upper right"]) -> None:
    legend = ax.legend(fontsize=7, frameon=False, labelcolor=TEXT, ncol=4, loc=loc)
    legend.set_zorder(5)


def _minutes(t: list[float]) -> list[float]:
    return [x / 60 for x in t]


def _series(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def draw(s: Samples, output: Path, bounds: Bounds) -> None:
    """The five panels, laid out like the dashboard."""
    plt.rcParams["font.family"] = "DejaVu Sans"
    fig = plt.figure(figsize=(13, 9.2), facecolor=BACKGROUND)
    grid = fig.add_gridspec(
        3, 2, height_ratios=(1.25, 1, 1), hspace=0.42, wspace=0.14,
        left=0.05, right=0.95, top=0.92, bottom=0.06,
    )  # fmt: skip
    fig.suptitle(
        f"qscaler — sim/consumer (qscaler demo, noisy trace, max-replicas {bounds.max_replicas})",
        color=TEXT, fontsize=12, x=0.05, ha="left",
    )  # fmt: skip
    panels = (
        (grid[0, :], lambda ax, s: _depth_panel(ax, s, bounds)),
        (grid[1, 0], _rates_panel),
        (grid[1, 1], _held_panel),
        (grid[2, 0], _decisions_panel),
        (grid[2, 1], _latency_panel),
    )
    for cell, panel in panels:
        ax = fig.add_subplot(cell)
        panel(ax, s)
        ax.set_xlabel("minutes", color=TEXT, fontsize=8)
        ax.set_xlim(0, s.t[-1] / 60)
    fig.savefig(output, dpi=80, facecolor=BACKGROUND, pil_kwargs={"optimize": True})


def _depth_panel(depth: Axes, s: Samples, bounds: Bounds) -> None:
    m = _minutes(s.t)
    _style(depth, "consumer: queue depth against replicas")
    ready = _series(s.values["ready"])
    depth.fill_between(m, ready, color=COLORS["blue"], alpha=0.25, lw=0)
    depth.plot(m, ready, color=COLORS["blue"], lw=1.2, label="messages ready")
    unacked = _series(s.values["unacked"])
    depth.plot(m, unacked, color=COLORS["purple"], lw=1, label="messages unacknowledged")
    depth.set_ylabel("messages", color=TEXT, fontsize=8)
    replicas = depth.twinx()
    replicas.tick_params(colors=TEXT, labelsize=8)
    for spine in replicas.spines.values():
        spine.set_visible(False)
    lines = (("desired", "orange", "-"), ("applied", "green", "-"),
             ("current", "yellow", ":"), ("max", "grey", "--"))  # fmt: skip
    for key, color, style in lines:
        values = _series(s.values[key])
        width = 1.2 if key == "current" else 1.6
        replicas.step(
            m, values, where="post", color=COLORS[color], ls=style, lw=width,
            label=f"{key} replicas",
        )  # fmt: skip
    replicas.set_ylim(0, bounds.max_replicas + 2)
    replicas.set_ylabel("replicas", color=TEXT, fontsize=8)
    handles, labels = depth.get_legend_handles_labels()
    more_handles, more_labels = replicas.get_legend_handles_labels()
    legend = replicas.legend(
        handles + more_handles, labels + more_labels, fontsize=7, frameon=False,
        labelcolor=TEXT, ncol=6, loc="upper left",
    )  # fmt: skip
    legend.set_zorder(5)
    for minute in _scale_moments(s):  # the dashboard's "Scaling decisions" annotations
        depth.axvline(minute, color=COLORS["orange"], alpha=0.18, lw=0.8)


def _rates_panel(rates: Axes, s: Samples) -> None:
    m = _minutes(s.t)
    _style(rates, "Publish vs ack rate (msg/s)")
    rates.plot(m, _series(s.values["publish"]), color=COLORS["blue"], lw=1, label="publish")
    rates.plot(m, _series(s.values["ack"]), color=COLORS["green"], lw=1, ls="--", label="ack")
    _legend(rates, "upper left")


def _held_panel(held: Axes, s: Samples) -> None:
    _style(held, "Held back: why scaling is not moving")
    reasons = sorted({r for h in s.held for r in h})
    for row, reason in enumerate(reasons):
        spans = _spans(s.t, [reason in h for h in s.held])
        color = COLORS["orange"] if reason == "AtMax" else COLORS["blue"]
        bars = [(a / 60, (b - a) / 60) for a, b in spans]
        held.broken_barh(bars, (row - 0.35, 0.7), color=color)
    held.set_yticks(range(len(reasons)), reasons)
    held.set_ylim(-0.6, len(reasons) - 0.4)


def _decisions_panel(decisions: Axes, s: Samples) -> None:
    _style(decisions, "Scaling decisions by reason (per minute)")
    per_minute = _increase_per_minute(s)
    bottom = [0.0] * len(per_minute["minutes"])
    for reason in sorted(k for k in per_minute if k != "minutes"):
        heights = per_minute[reason]
        decisions.bar(
            per_minute["minutes"], heights, bottom=bottom, width=0.9, label=reason,
            color=COLORS[REASON_COLORS.get(reason, "purple")], align="edge",
        )  # fmt: skip
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    decisions.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(decisions, "upper right")


def _latency_panel(latency: Axes, s: Samples) -> None:
    _style(latency, "Cycle duration (ms, per simulated minute)")
    for q, color in ((0.5, "green"), (0.9, "yellow"), (0.99, "red")):
        xs, ys = _quantiles(s, q)
        latency.plot(xs, ys, color=COLORS[color], lw=1, label=f"p{round(q * 100)}")
    _legend(latency, "upper right")


def _spans(t: list[float], on: list[bool]) -> list[tuple[float, float]]:
    spans, start = [], None
    for when, flag in zip(t, on, strict=True):
        if flag and start is None:
            start = when
        elif not flag and start is not None:
            spans.append((start, when))
            start = None
    if start is not None:
        spans.append((start, t[-1]))
    return spans


def _increase_per_minute(s: Samples) -> dict[str, list[float]]:
    last_minute = int(s.t[-1] // 60)
    minutes = list(range(last_minute + 1))
    reasons = {r for d in s.decisions for r in d}
    out: dict[str, list[float]] = {"minutes": [float(x) for x in minutes]}
    for reason in reasons:
        out[reason] = [0.0] * len(minutes)
    previous: dict[str, float] = {}
    for when, counts in zip(s.t, s.decisions, strict=True):
        for reason, value in counts.items():
            out[reason][int(when // 60)] += value - previous.get(reason, 0.0)
            previous[reason] = value
    return out


def _scale_moments(s: Samples) -> list[float]:
    moments, previous = [], None
    for when, desired in zip(s.t, s.values["desired"], strict=True):
        if previous is not None and desired != previous:
            moments.append(when / 60)
        previous = desired
    return moments


def _quantiles(s: Samples, q: float) -> tuple[list[float], list[float]]:
    by_minute: dict[int, list[float]] = defaultdict(list)
    for when, seconds in zip(s.t, s.cycle_seconds, strict=False):
        by_minute[int(when // 60)].append(seconds * 1000)
    xs, ys = [], []
    for minute in sorted(by_minute):
        values = sorted(by_minute[minute])
        xs.append(minute + 0.5)
        ys.append(values[min(len(values) - 1, int(q * len(values)))])
    return xs, ys


def main() -> None:
    """Record the run and draw it."""
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT_DIR
    for name, bounds in PICTURES.items():
        samples = record(bounds)
        output = folder / name
        draw(samples, output, bounds)
        print(f"{output}: {output.stat().st_size // 1024} KB, {len(samples.t)} cycles")


if __name__ == "__main__":
    main()
