"""Charts of a race: each arm's live replicas, every repeat, over the simulator's prediction.

    python -m bench.race.chart RACE.json DIR     # one PNG per trace in DIR

One panel per arm, sharing the time axis: the simulator's predicted
`spec.replicas` as a thick line, each live repeat as a thin one, so where
reality leads, lags or overshoots the model is visible at a glance.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from qscaler.sim.chart import finish, pyplot


def draw_trace(path: Path, trace: str, race: dict[str, Any]) -> None:
    """Write the chart of one trace's arms to `path` (.png or .svg)."""
    predicted = race["predictions"][trace]
    plt = pyplot()
    arms = list(predicted)
    figure, axes = plt.subplots(len(arms), 1, sharex=True, figsize=(9, 2.6 * len(arms)), dpi=80)
    axes = axes if len(arms) > 1 else [axes]
    try:
        for panel, arm in zip(axes, arms, strict=True):
            _arm_panel(panel, arm, predicted[arm]["replicas"], _live(race, trace, arm))
        axes[-1].set_xlabel("time into the cut (seconds)")
        finish(figure, path, f"{trace}: live (thin, one line per repeat) vs simulator (thick)")
    finally:
        plt.close(figure)


def _arm_panel(panel: Any, arm: str, predicted: list[int], live: list[list[int]]) -> None:
    panel.step(
        range(len(predicted)),
        predicted,
        where="post",
        linewidth=3,
        alpha=0.5,
        color="tab:blue",
        label="simulator",
    )
    for n, replicas in enumerate(live):
        panel.step(
            range(len(replicas)),
            replicas,
            where="post",
            linewidth=1,
            color="tab:orange",
            label="live" if n == 0 else None,
        )
    panel.set_ylabel(f"{arm}\nreplicas")
    panel.legend(loc="upper left", fontsize="small")


def _live(race: dict[str, Any], trace: str, arm: str) -> list[list[int]]:
    return [r["replicas"] for r in race["runs"] if r["trace"] == trace and r["arm"] == arm]


def main(argv: list[str]) -> int:
    race = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for trace in race["predictions"]:
        draw_trace(out / f"race-{trace}.png", trace, race)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
