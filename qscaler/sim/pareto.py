"""The Pareto picture: every tuned KEDA configuration as a point, and qscaler's point.

One panel per trace, replica-seconds across and p95 wait up: an operator
tuning KEDA can reach any of the grey points (QueueLength and MessageRate
drawn apart); qscaler, with one policy for every trace, is the blue star.
A point below and to the left of the star would dominate it. The SLO is the
dashed line; configurations waiting more than four times the SLO are left
off the top, where they would squash the region that matters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qscaler.sim.bench import Comparison
from qscaler.sim.chart import MAIN, check_format, finish, pyplot
from qscaler.sim.controllers import KedaMode

COLUMNS = 3


def draw_pareto(path: Path, comparisons: Sequence[Comparison]) -> None:
    """Write one panel per trace to a .png or .svg file."""
    check_format(path)
    if not comparisons:
        return
    plt = pyplot()
    rows = math.ceil(len(comparisons) / COLUMNS)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(12, 3.6 * rows), dpi=80, squeeze=False)
    try:
        flat = [a for row in axes for a in row]
        for panel, comparison in zip(flat, comparisons, strict=False):
            _panel(panel, comparison)
        for unused in flat[len(comparisons) :]:
            unused.set_visible(False)
        finish(
            figure,
            path,
            "KEDA's 160 configurations (points) and qscaler's one policy (star); "
            "p95 waits above 4× the SLO are off the top",
        )
    finally:
        plt.close(figure)


def _panel(axes: Any, comparison: Comparison) -> None:
    sweep = comparison.sweep
    for mode, marker in ((KedaMode.QUEUE_LENGTH, "o"), (KedaMode.MESSAGE_RATE, "^")):
        points = [
            (s.replica_seconds, s.p95_wait)
            for k, s in zip(sweep.configurations, sweep.scores, strict=True)
            if k.mode is mode
        ]
        axes.scatter(
            [x for x, _ in points], [y for _, y in points], s=10, marker=marker,
            color="tab:gray", alpha=0.6, label=f"KEDA {mode}",
        )  # fmt: skip
    ours = comparison.qscaler.scores
    axes.scatter([ours.replica_seconds], [ours.p95_wait], s=140, marker="*", color=MAIN,
                 label="qscaler", zorder=3)  # fmt: skip
    axes.axhline(comparison.qscaler.result.scenario.slo_seconds, color="tab:red",
                 linestyle="--", linewidth=0.8)  # fmt: skip
    axes.set_xscale("log")
    axes.tick_params(axis="x", which="minor", labelbottom=False)
    axes.set_ylim(0, max(4 * comparison.qscaler.result.scenario.slo_seconds, 1.5 * ours.p95_wait))
    axes.set_title(f"{comparison.trace.name}: dominated by {comparison.frontier.dominated_by}")
    axes.set_xlabel("replica-seconds")
    axes.set_ylabel("p95 wait (s)")
    axes.legend(loc="upper right", fontsize="x-small")
