"""qscaler's own CPU per cycle, without a broker: the world's listing replayed.

    .venv/bin/python -m bench.scale.replay                       # 20,000 queues, 2,000 workloads
    .venv/bin/python -m bench.scale.replay --profile             # and where the time goes
    .venv/bin/python -m bench.scale.replay --churn               # a queue created every cycle

The scale benchmark (`bench.scale.run`) measures a cycle against the real
broker and control plane, where a cycle takes 10 minutes to set up and most of
its wall time is the broker's. To work on qscaler's own share, this runs the
same `ControlLoop` (real ManagementSource, binding parser, smoothing, matcher,
decide, OutcomeRecorder and Metrics) on the same world, with the management API's
pages served from memory (`httpx.MockTransport`) in the shape RabbitMQ 3.10.8
answers `ManagementSource`'s requests (tests/fixtures/rabbitmq/3.10.8). The
cluster is the world's Deployments as a StaticCluster; at steady state a cycle
makes no write, so no writer is involved.

`--churn` creates one queue in the first vhost before every steady cycle (an
RPC reply queue, say: no binding matches it), so every cycle sees that vhost's
set of names change, which is what invalidates cached `re:` matches.

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
from qscaler.loop import ControlLoop
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.sources.management import PAGE_SIZE, ManagementSource


def main(argv: Sequence[str] | None = None) -> int:
    """Run cycles on the replayed world and print their CPU time."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale.replay")
    parser.add_argument("--queues", type=int, default=20_000)
    parser.add_argument("--workloads", type=int, default=2_000)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--churn", action="store_true", help="a new queue before every cycle")
    args = parser.parse_args(argv)
    world = layout(args.queues, args.workloads)
    collect_garbage_less_often()  # as `qscaler run` does (qscaler.app.build_runtime)
    replay = Replay(world)
    controller = replay_loop(world, replay)
    cold = _cpu(controller.cycle)
    steady = []
    for number in range(args.cycles):
        if args.churn:
            replay.create(world.vhosts[0], f"amq.gen-reply-{number:04d}")
        steady.append(_cpu(controller.cycle))
    churn = ", one queue created before each" if args.churn else ""
    print(
        f"{world.queue_count:,} queues, {len(world.workloads):,} workloads{churn}: cycle CPU "
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


def replay_loop(
    world: World, replay: Replay, registry: CollectorRegistry | None = None
) -> ControlLoop:
    """The loop over the replayed world, as `qscaler run` wires it, without a writer."""
    source = ManagementSource(
        httpx.Client(base_url="http://rabbitmq.invalid", transport=httpx.MockTransport(replay))
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
    reporter = OutcomeRecorder(Metrics(registry or CollectorRegistry()))
    return ControlLoop(StaticCluster(workloads), source, None, reporter, clock=time.monotonic)


class Replay:
    """The management API's answers for the world, from memory."""

    def __init__(self, world: World) -> None:
        self.loaded = {q for queues in world.busy.values() for q in queues}
        self.names = {vhost: sorted(names) for vhost, names in world.queues.items()}
        self.pages = {vhost: _pages(names, self.loaded) for vhost, names in self.names.items()}
        self.whole = {vhost: self._whole(vhost) for vhost in self.names}

    def create(self, vhost: str, name: str) -> None:
        """A new, empty queue in `vhost`, listed from now on."""
        self.names[vhost] = sorted([*self.names[vhost], name])
        self.pages[vhost] = _pages(self.names[vhost], self.loaded)
        self.whole[vhost] = self._whole(vhost)

    def _whole(self, vhost: str) -> bytes:
        return json.dumps([_item(n, n in self.loaded) for n in self.names[vhost]]).encode()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.raw_path.decode().split("?")[0].split("/")
        vhost = unquote(parts[3])
        if len(parts) == 4 and "page" not in request.url.params:
            return httpx.Response(200, content=self.whole[vhost])  # the default: unpaged
        if len(parts) == 4:
            page = int(request.url.params["page"])
            return httpx.Response(200, content=self.pages[vhost][page - 1])
        return httpx.Response(404, json={"error": "Object Not Found", "reason": "Not Found"})


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
