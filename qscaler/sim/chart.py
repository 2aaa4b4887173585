"""Draw one run (and optionally a competitor's) over time: what a user looks at first.

Three panels sharing the time axis: the publish rate (the trace), the
backlog, and the replicas (requested, and ready: the gap between them is the
start-up delay being paid for). matplotlib is an optional dependency
(`pip install 'qscaler[charts]'`), imported only when a chart is asked for,
with the non-interactive Agg backend so it works without a display. Long runs
are reduced to at most `MAX_POINTS` per line to keep the files small: the
rate to each bucket's mean, the backlog and replicas to its maximum (so no
peak disappears).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qscaler.errors import ConfigError
from qscaler.sim.world import RunResult

MAX_POINTS = 600
MAIN, READY, COMPETITOR = "tab:blue", "tab:green", "tab:orange"
FORMATS = (".png", ".svg")


@dataclass(frozen=True, slots=True)
class Line:
    """One controller's run, labelled for the legend."""

    label: str
    result: RunResult


def draw(path: Path, main: Line, competitor: Line | None = None, title: str = "") -> None:
    """Write the chart of `main` (and `competitor` on the same axes) to a .png or .svg file."""
    check_format(path)
    plt = pyplot()
    figure, (rate, backlog, replicas) = plt.subplots(3, 1, sharex=True, figsize=(9, 6.5), dpi=80)
    try:
        _rate_panel(rate, main.result)
        for line, color in ((main, MAIN), (competitor, COMPETITOR)):
            if line is not None:
                _backlog_panel(backlog, line, color)
                _replicas_panel(replicas, line, color, ready=line is main)
        replicas.set_xlabel("time (minutes)")
        finish(figure, path, title or main.result.trace.name)
    finally:
        plt.close(figure)


def check_format(path: Path) -> None:
    """Refuse a file name that is neither .png nor .svg, before anything is drawn."""
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"chart {path}: use a .png or .svg file name")


def finish(figure: Any, path: Path, title: str) -> None:
    """Title, lay out and write the figure; a failed write is a one-line ConfigError."""
    figure.suptitle(title)
    figure.tight_layout()
    try:
        save(figure, path)
    except OSError as exc:
        raise ConfigError(f"cannot write chart {path}: {exc}") from exc


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; a one-line error when it is not installed."""
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency, only for charts

        matplotlib.use("Agg")
        matplotlib.rcParams["svg.hashsalt"] = "qscaler"  # stable ids: reproducible files
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError("charts need matplotlib: pip install 'qscaler[charts]'") from exc
    return plt


def _rate_panel(axes: Any, result: RunResult) -> None:
    x, y = _reduced(result.publish, mean=True)
    axes.plot(x, y, color="tab:gray", linewidth=0.8)
    axes.set_ylabel("published/s")


def _backlog_panel(axes: Any, line: Line, color: str) -> None:
    x, y = _reduced(line.result.backlog[:-1])
    axes.plot(x, y, color=color, linewidth=1, label=line.label)
    axes.set_ylabel("backlog")
    axes.legend(loc="upper right", fontsize="small")


def _replicas_panel(axes: Any, line: Line, color: str, ready: bool) -> None:
    x, y = _reduced(line.result.replicas)
    axes.plot(x, y, color=color, linewidth=1, label=f"{line.label} requested")
    if ready:
        x, y = _reduced(line.result.ready)
        axes.plot(x, y, "--", color=READY, linewidth=0.8, label=f"{line.label} ready")
    axes.set_ylabel("replicas")
    axes.legend(loc="upper right", fontsize="small")


def _reduced(values: Sequence[float], mean: bool = False) -> tuple[list[float], list[float]]:
    """Minutes and values, at most MAX_POINTS of them: each bucket's maximum (or mean)."""
    size = max(1, math.ceil(len(values) / MAX_POINTS))
    xs, ys = [], []
    for start in range(0, len(values), size):
        bucket = values[start : start + size]
        xs.append(start / 60)
        ys.append(sum(bucket) / len(bucket) if mean else float(max(bucket)))
    return xs, ys


def save(figure: Any, path: Path) -> None:
    """SVG as drawn; PNG reduced to a 32-colour palette (a chart has a handful of colours,
    and the palette file is a third of the size)."""
    if path.suffix.lower() == ".svg":
        figure.savefig(path, metadata={"Date": None, "Creator": None})
        return
    from PIL import Image  # noqa: PLC0415 - a matplotlib dependency, only needed here

    drawn = io.BytesIO()
    figure.savefig(drawn, format="png")
    drawn.seek(0)
    with Image.open(drawn) as image:
        palette = image.convert("RGB").quantize(colors=32, method=Image.Quantize.MEDIANCUT)
        palette.save(path, format="PNG", optimize=True)
