"""The race's table: live medians with min–max, beside the simulator's prediction."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

#: The scores shown, in column order.
COLUMNS = ("replica_seconds", "p95_wait", "pod_starts", "reversals", "slo_met")


def table(
    runs: Sequence[dict[str, Any]],
    predictions: dict[str, dict[str, Any]],
    keda_configs: dict[str, dict[str, Any] | None],
) -> str:
    """A markdown table: one row per (trace, arm), live `median [min–max]` and the prediction."""
    header = [
        "trace",
        "arm",
        "setting",
        *(f"{c} live" for c in COLUMNS[:-1]),
        "SLO met (live)",
        *(f"{c} sim" for c in COLUMNS[:-1]),
        "SLO met (sim)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for trace, predicted in predictions.items():
        for arm in predicted:
            mine = [r["scores"] for r in runs if r["trace"] == trace and r["arm"] == arm]
            config = keda_configs[trace]
            setting = describe(config) if arm == "keda" and config else "default policy"
            cells = [trace, arm, setting]
            cells += [spread([s[c] for s in mine]) for c in COLUMNS[:-1]]
            cells.append(f"{sum(bool(s['slo_met']) for s in mine)}/{len(mine)}")
            cells += [str(predicted[arm][c]) for c in COLUMNS[:-1]]
            cells.append("yes" if predicted[arm]["slo_met"] else "no")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spread(values: Sequence[float]) -> str:
    """`median [min–max]`, or `–` when there are no runs."""
    if not values:
        return "–"
    median = statistics.median(values)
    shown = f"{median:g}" if isinstance(median, float) else str(median)
    if len(values) == 1:
        return shown
    return f"{shown} [{min(values):g}–{max(values):g}]"


def describe(config: dict[str, Any]) -> str:
    """A KEDA configuration in words."""
    window = "no behavior" if config["window"] is None else f"window {config['window']} s"
    return f"{config['mode']} {config['value']:g}, {window}, polling {config['polling']} s"
