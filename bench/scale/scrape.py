"""The time of one /metrics scrape at 2,000 workloads, without a broker.

    .venv/bin/python -m bench.scale.scrape                # 20,000 queues, 2,000 workloads
    .venv/bin/python -m bench.scale.scrape --scrapes 50

Runs the replayed world of `bench.scale.replay` (the same `ControlLoop`,
OutcomeRecorder and Metrics, the management API's answers served from memory)
for a cold and a steady cycle, then times `generate_latest` on its registry,
which is what the /metrics endpoint answers with. Per-workload gauges are
built at scrape time from the last cycle's report, so a scrape's cost grows
with workloads; this prints it, with the size of the answer.

Each scrape is timed with the thread's CPU clock and the wall clock; the
figures are the median, minimum and maximum over `--scrapes`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest

from bench.scale.replay import Replay, replay_loop
from bench.scale.world import layout
from qscaler.app import collect_garbage_less_often


def main(argv: Sequence[str] | None = None) -> int:
    """Run two cycles on the replayed world, then time scrapes and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale.scrape")
    parser.add_argument("--queues", type=int, default=20_000)
    parser.add_argument("--workloads", type=int, default=2_000)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args(argv)
    world = layout(args.queues, args.workloads)
    collect_garbage_less_often()  # as `qscaler run` does
    registry = CollectorRegistry()
    loop = replay_loop(world, Replay(world), registry)
    loop.cycle()
    loop.cycle()
    body = generate_latest(registry)
    cpu, wall = [], []
    for _ in range(args.scrapes):
        started_cpu, started_wall = time.thread_time(), time.perf_counter()
        generate_latest(registry)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    print(
        f"{world.queue_count:,} queues, {len(world.workloads):,} workloads: one scrape "
        f"{samples:,} samples, {len(body) / 1e6:.2f} MB; {_figures('CPU', cpu)}; "
        f"{_figures('wall', wall)} over {len(cpu)} scrapes"
    )
    return 0


def _figures(what: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"{what} median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f})"


if __name__ == "__main__":
    sys.exit(main())
