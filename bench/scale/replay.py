"""qscaler's own CPU per cycle, without a broker: the world's listing replayed.

    .venv/bin/python -m bench.scale.replay                       # 20,000 queues, 2,000 workloads
    .venv/bin/python -m bench.scale.replay --profile             # and where the time goes

The scale benchmark (`bench.scale.run`) measures a cycle against the real
broker and control plane, where a cycle takes 10 minutes to set up and most of
its wall time is the broker's. To work on qscaler's own share, this runs the
same `Controller` (real ManagementSource, binding parser, smoothing, matcher,
decide, Reporter and Metrics) on the same world, with the management API's
pages served from memory (`httpx.MockTransport`) in the shape RabbitMQ 3.10.8
answers `ManagementSource`'s requests (tests/fixtures/rabbitmq/3.10.8). The
cluster is the world's Deployments as a StaticCluster; at steady state a cycle
makes no write, so no writer is involved.

The profile uses the thread's CPU clock, so it shows CPU, not waiting.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Sequence
from urllib.parse import unquote

import httpx
from prometheus_client import CollectorRegistry

from bench.scale.world import LOAD, World, layout
from qscaler.app import collect_garbage_less_often
from qscaler.bindings_file import StaticCluster
from qscaler.core.workload import Workload, WorkloadRef
from qscaler.loop import Controller
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import Reporter
from qscaler.sources.management import PAGE_SIZE, ManagementSource


def main(argv: Sequence[str] | None = None) -> int:
    """Run cycles on the replayed world and print their CPU time."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale.replay")
    parser.add_argument("--queues", type=int, default=20_000)
    parser.add_argument("--workloads", type=int, default=2_000)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    world = layout(args.queues, args.workloads)
    collect_garbage_less_often()  # as `qscaler run` does (qscaler.app.build_runtime)
    controller = _controller(world)
    cold = _cpu(controller.cycle)
    steady = [_cpu(controller.cycle) for _ in range(args.cycles)]
    print(
        f"{world.queue_count:,} queues, {len(world.workloads):,} workloads: cycle CPU "
        f"cold {cold * 1000:.0f} ms, steady median {statistics.median(steady) * 1000:.0f} ms "
        f"(min {min(steady) * 1000:.0f}, max {max(steady) * 1000:.0f}) over {len(steady)} cycles"
    )
    if args.profile:
        profiler = cProfile.Profile(time.thread_time)
        profiler.runcall(controller.cycle)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    return 0


def _cpu(call: object) -> float:
    assert callable(call)
    started = time.thread_time()
    call()
    return time.thread_time() - started


def _controller(world: World) -> Controller:
    source = ManagementSource(
        httpx.Client(base_url="http://rabbitmq.invalid", transport=_replay(world))
    )
    workloads = [
        Workload(
            WorkloadRef(w.namespace, w.name),
            world.replicas(w),
            world.replicas(w),
            w.annotations(),
            resource_version="1",
        )
        for w in world.workloads
    ]
    reporter = Reporter(Metrics(CollectorRegistry()))
    return Controller(StaticCluster(workloads), source, None, reporter, clock=time.monotonic)


def _replay(world: World) -> httpx.MockTransport:
    loaded = {q for queues in world.busy.values() for q in queues}
    pages = {vhost: _pages(names, loaded) for vhost, names in world.queues.items()}
    whole = {
        vhost: json.dumps([_item(n, n in loaded) for n in sorted(names)]).encode()
        for vhost, names in world.queues.items()
    }

    def answer(request: httpx.Request) -> httpx.Response:
        parts = request.url.raw_path.decode().split("?")[0].split("/")
        vhost = unquote(parts[3])
        if len(parts) == 4 and "page" not in request.url.params:
            return httpx.Response(200, content=whole[vhost])  # the default: unpaged
        if len(parts) == 4:
            return httpx.Response(200, content=pages[vhost][int(request.url.params["page"]) - 1])
        return httpx.Response(404, json={"error": "Object Not Found", "reason": "Not Found"})

    return httpx.MockTransport(answer)


def _pages(names: Sequence[str], loaded: set[str]) -> list[bytes]:
    ordered = sorted(names)
    count = -(-len(ordered) // PAGE_SIZE)
    return [
        json.dumps(
            {
                "filtered_count": len(ordered),
                "item_count": len(chunk),
                "items": [_item(n, n in loaded) for n in chunk],
                "page": number + 1,
                "page_count": count,
                "page_size": PAGE_SIZE,
                "total_count": len(ordered),
            }
        ).encode()
        for number, chunk in enumerate(
            ordered[i : i + PAGE_SIZE] for i in range(0, len(ordered), PAGE_SIZE)
        )
    ]


def _item(name: str, loaded: bool) -> dict[str, object]:
    """A queue that has had traffic (the world primes every queue), idle now."""
    return {
        "consumers": 0,
        "message_stats": {"publish_details": {"rate": 0.0}},
        "messages_ready": LOAD if loaded else 0,
        "messages_unacknowledged": 0,
        "name": name,
    }


if __name__ == "__main__":
    sys.exit(main())
