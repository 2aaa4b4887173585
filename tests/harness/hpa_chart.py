"""Draw a recorded CPU-HPA timeline (tests/e2e/test_hpa_cpu.py) as a chart.

    QSCALER_HPA_TIMELINE=out pytest tests/e2e/test_hpa_cpu.py -k larger
    python -m tests.harness.hpa_chart out/cpu-and-queue.json docs/images/hpa-cpu-and-queue.png

One panel: the Deployment's replicas, the HPA's minReplicas (qscaler's
floor) and maxReplicas, what CPU wants (from the utilization the HPA
reports) and what the queue wants (qscaler's desired count). The replicas
line should sit on the higher of the two demands, clamped by max.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def draw(timeline: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples: list[dict[str, Any]] = json.loads(timeline.read_text())
    t = [s["t"] - samples[0]["t"] for s in samples]

    def series(key: str) -> list[float]:
        return [float("nan") if s[key] is None else s[key] for s in samples]

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.step(t, series("replicas"), where="post", lw=2.5, color="tab:blue", label="replicas")
    ax.step(t, series("cpu_desired"), where="post", color="tab:red", label="CPU wants (HPA)")
    ax.step(
        t, series("queue_desired"), where="post", color="tab:green", label="queue wants (qscaler)"
    )
    ax.step(
        t, series("floor"), where="post", ls="--", color="black", label="HPA minReplicas (floor)"
    )
    ax.step(t, series("hpa_max"), where="post", ls=":", color="grey", label="HPA maxReplicas")
    ax.set_xlabel("seconds")
    ax.set_ylabel("replicas")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("qscaler and a CPU HPA, recorded on the test control plane")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


if __name__ == "__main__":
    draw(Path(sys.argv[1]), Path(sys.argv[2]))
