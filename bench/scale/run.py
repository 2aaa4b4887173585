"""Scale benchmark: qscaler at 20,000 queues and 2,000 workloads, on real components.

    .venv/bin/python -m bench.scale.run                  # 20,000 queues, 2,000 workloads
    .venv/bin/python -m bench.scale.run --sizes 200:20,2000:200,20000:2000

For each size it starts its own RabbitMQ node (tests/rabbitmq/up.sh, with the
production statistics interval of 5 s) and its own Kubernetes control plane
(tests/k8s/up.sh: kube-apiserver, controller-manager, scheduler, etcd, kwok),
builds the world of `bench.scale.world` on them, starts qscaler in a process
of its own (`bench.scale.subject`, built as `qscaler run` builds it) and
prints, per cycle:

* qscaler's requests (management API, or with `--source prometheus` the
  node's rabbitmq_prometheus endpoint) and the broker's CPU time serving
  them, beside the same observation made the per-queue way (one GET per bound
  queue, as KEDA does), one unpaged listing per vhost and one
  `disable_stats` listing per vhost, with the ratios;
* Kubernetes API requests at steady state and when 10 % of the workloads need
  a change;
* qscaler's CPU time per cycle and its peak RSS;
* burst → first write, with and without the activation probe.

Everything is stopped at the end (or on Ctrl-C). Nothing here is a test: it
prints figures and asserts nothing about them. docs/performance.md explains
the method and records the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from bench.scale import baseline, report
from bench.scale.cpu import BrokerCpu
from bench.scale.setup import (
    STATS_INTERVAL_MS,
    create_deployments,
    create_queues,
    prime,
    publish,
    start_broker,
    wait_counted,
)
from bench.scale.subject import serve
from bench.scale.world import LOAD, Bound, World, layout
from tests.harness.k8s import ControlPlane
from tests.harness.rabbitmq import Broker

#: Messages in one burst: one replica's worth (messages-per-replica is 1,000).
BURST = 20
#: The default poll interval, which the burst measurements run with.
POLL_SECONDS = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark at each size asked for."""
    args = _parser().parse_args(argv)
    sizes = (
        [_size(s) for s in args.sizes.split(",")] if args.sizes else [(args.queues, args.workloads)]
    )
    print(_machine(), flush=True)
    for queues, workloads in sizes:
        Bench(layout(queues, workloads, args.seed, args.bursts), args).run()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--queues", type=int, default=20_000)
    parser.add_argument("--workloads", type=int, default=2_000)
    parser.add_argument("--sizes", help="several runs, e.g. 200:20,2000:200,20000:2000")
    parser.add_argument("--cycles", type=int, default=5, help="steady-state cycles measured")
    parser.add_argument("--bursts", type=int, default=20, help="bursts per probe setting")
    parser.add_argument("--probe-seconds", type=float, default=1.0)
    parser.add_argument("--probe-max-queues", type=int, default=1000)
    parser.add_argument("--per-queue-threads", type=int, default=4)
    parser.add_argument(
        "--page-size",
        type=int,
        default=0,
        help="qscaler's QSCALER_MANAGEMENT_PAGE_SIZE (0, the default: one request per vhost)",
    )
    parser.add_argument(
        "--source",
        choices=("management", "prometheus"),
        default="management",
        help="qscaler's QSCALER_SOURCE (prometheus: the node's rabbitmq_prometheus endpoint)",
    )
    parser.add_argument(
        "--rabbitmq-version", help="a version from tests/rabbitmq/versions.sh (default: its first)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one steady cycle")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def _size(text: str) -> tuple[int, int]:
    queues, _, workloads = text.partition(":")
    return int(queues), int(workloads)


@dataclass
class Subject:
    """The qscaler process, commanded over a pipe."""

    conn: Connection
    process: multiprocessing.process.BaseProcess

    def call(self, command: str, **args: Any) -> Any:
        self.conn.send((command, args))
        status, result = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"qscaler under test: {command}: {result}")
        return result

    def exit(self) -> dict[str, float]:
        self.conn.send(("exit", {}))
        _, usage = self.conn.recv()
        self.process.join(timeout=60)
        return dict(usage)


@dataclass
class Bench:
    """One size: set up, measure, print, tear down."""

    world: World
    args: argparse.Namespace
    cpu: BrokerCpu = field(init=False)
    broker: Broker = field(init=False)
    plane: ControlPlane = field(init=False)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def run(self) -> None:
        w = self.world
        print(f"\n== {w.queue_count:,} queues over {len(w.vhosts)} vhosts, "
              f"{len(w.workloads):,} workloads ==", flush=True)  # fmt: skip
        started = time.monotonic()
        with self._components():
            self._setup()
            subject = self._spawn()
            try:
                self._cycles(subject)
                self._change(subject)
                self._bursts(subject)
            finally:
                usage = subject.exit()
            report.usage("qscaler process over the whole run (a second runtime built for the "
                   "probe-off loop)", usage)  # fmt: skip
        print(f"wall time for this size: {time.monotonic() - started:.0f} s", flush=True)

    # --- setup -----------------------------------------------------------------------------

    @contextmanager
    def _components(self) -> Iterator[None]:
        with _timed("RabbitMQ node (statistics interval 5 s)"):
            self.broker = start_broker(self.args.rabbitmq_version)
        print(f"  RabbitMQ {self.broker.version}, qscaler source {self.args.source}", flush=True)
        try:
            with _timed("Kubernetes control plane"):
                self.plane = ControlPlane.start(nodes=2)
            try:
                yield
            finally:
                self.plane.stop()
        finally:
            self.broker.stop()

    def _setup(self) -> None:
        w, broker = self.world, self.broker
        with _timed(f"{w.queue_count:,} queues (definitions import)"):
            create_queues(broker, w)
        with _timed("every queue given a history (one message published and purged)"):
            prime(broker, w)
        loaded = _by_vhost(w, {k: dict.fromkeys(qs, LOAD) for k, qs in w.busy.items()})
        with _timed(f"{sum(map(len, loaded.values())):,} queues loaded ({LOAD} messages each)"):
            for vhost, counts in loaded.items():
                publish(broker, vhost, counts)
        with _timed(f"{len(w.workloads):,} Deployments ({len(w.busy)} at 1 replica)"):
            create_deployments(self.plane, w)
        with _timed("management API counting every queue"):
            wait_counted(broker, w, loaded)
        self.cpu = BrokerCpu(broker.pids["beam"])
        rate = self.cpu.measure_idle(20)
        print(f"  broker background (nothing asked): {rate:.3f} CPU s per s", flush=True)

    def _spawn(self) -> Subject:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        config = {
            "management_url": self.broker.mgmt_url,
            "amqp_url": self.broker.amqp_url,
            "username": self.broker.user,
            "password": self.broker.password,
            "kubeconfig": str(self.plane.kubeconfig),
            "page_size": self.args.page_size,
            "source": self.args.source,
            "prometheus_url": self.broker.prometheus_url,
        }
        process = context.Process(target=serve, args=(theirs, config), name="qscaler")
        process.start()
        return Subject(ours, process)

    # --- steady state ----------------------------------------------------------------------

    def _cycles(self, subject: Subject) -> None:
        built = subject.call(
            "build",
            probe_seconds=self.args.probe_seconds,
            probe_max_queues=self.args.probe_max_queues,
        )  # the probe runs only under run_forever: not during these cycles
        print(f"\nqscaler started in {built['seconds']:.1f} s: {built['workloads']} workloads "
              f"in its watch cache, leader={built['leader']}", flush=True)  # fmt: skip
        client = httpx.Client(
            base_url=self.broker.mgmt_url, auth=(self.broker.user, self.broker.password),
            timeout=120,
            limits=httpx.Limits(max_connections=self.args.per_queue_threads + 2),
        )  # fmt: skip
        print(report.READ_HEADER, flush=True)
        rows: list[report.Reading] = []
        qscaler_rows: list[dict[str, Any]] = []
        try:
            for number in range(self.args.cycles + 1):
                profile = self.args.profile and number == 2
                reading, cycle = self._one_reading(subject, client, profile)
                label = "0 cold" if number == 0 else str(number)
                print(reading.row(label), flush=True)
                if number:
                    rows.append(reading)
                qscaler_rows.append({"label": label, **cycle})
        finally:
            client.close()
        print(report.Reading.summary(rows), flush=True)
        print(report.CYCLE_HEADER, flush=True)
        for cycle in qscaler_rows:
            print(report.cycle_row(cycle["label"], cycle), flush=True)
            if cycle["profile"]:
                print(f"\ncProfile (CPU time) of cycle {cycle['label']}:\n{cycle['profile']}")
        steady = [c for c in qscaler_rows[1:] if not c["profile"]]  # profiling slows a cycle
        wall, cpu = report.median(steady, "wall"), report.median(steady, "thread_cpu") * 1000
        process = report.median(steady, "process_cpu") * 1000
        print(f"{'median':>7} {wall:8.2f} {cpu:10.0f} {process:10.0f}")

    def _one_reading(
        self, subject: Subject, client: httpx.Client, profile: bool
    ) -> tuple[report.Reading, dict[str, Any]]:
        window = self.cpu.window()
        cycle = subject.call("cycle", profile=profile)
        ours = window.stop()
        window = self.cpu.window()
        per_queue = baseline.per_queue(client, self.world, self.args.per_queue_threads)
        theirs = window.stop()
        window = self.cpu.window()
        whole = baseline.whole_vhost(client, self.world)
        unpaged = window.stop()
        window = self.cpu.window()
        no_stats = baseline.no_stats(client, self.world)
        no_stats_spent = window.stop()
        reading = report.Reading(
            cycle["mgmt_requests"], ours, per_queue.made, per_queue.failed, theirs,
            whole.made, unpaged, no_stats.made, no_stats_spent,
        )  # fmt: skip
        return reading, cycle

    # --- 10 % need a change ----------------------------------------------------------------

    def _change(self, subject: Subject) -> None:
        w = self.world
        counts = {c.key: {c.queues[0]: LOAD} for c in w.change}
        loaded = _by_vhost(w, counts)
        for vhost, queues in loaded.items():
            publish(self.broker, vhost, queues)
        wanted = {v: dict.fromkeys(qs, LOAD) for v, qs in loaded.items()}
        with _timed(f"\n{len(w.change)} workloads ({len(w.change) / len(w.workloads):.0%}) "
                    "loaded; management API showing it"):  # fmt: skip
            wait_counted(self.broker, w, wanted)
        print(report.CYCLE_HEADER, flush=True)
        for label in ("change", "after"):
            print(report.cycle_row(label, subject.call("cycle")), flush=True)
        report.usage("qscaler process after the steady and change cycles", subject.call("usage"))

    # --- bursts ----------------------------------------------------------------------------

    def _bursts(self, subject: Subject) -> None:
        """With the probe on the runtime that ran the cycles, then off on a new one."""
        half = len(self.world.bursts) // 2
        print(f"\nburst ({BURST} messages to one idle single-queue workload) → first write, "
              f"poll interval {POLL_SECONDS:g} s:", flush=True)  # fmt: skip
        label = f"activation probe every {self.args.probe_seconds:g} s"
        self._probe_cost(subject)
        self._burst_group(subject, label, self.world.bursts[half:])
        report.usage(
            "qscaler process over one runtime's life (cycles, change, loop)", subject.call("usage")
        )
        subject.call("build", probe_seconds=0.0)
        self._burst_group(subject, "management API only (probe off)", self.world.bursts[:half])

    def _probe_cost(self, subject: Subject, rounds: int = 5) -> None:
        """Probe rounds alone (no cycle running): what one declared queue costs."""
        subject.call("cycle")  # bindings parsed, views built
        window = self.cpu.window()
        probed = subject.call("probe_rounds", count=rounds)
        spent = window.stop()
        print(report.probe_cost_line(probed, spent, rounds, self.args.probe_max_queues), flush=True)

    def _burst_group(self, subject: Subject, label: str, group: Sequence[Bound]) -> None:
        subject.call("start_loop")
        subject.call("wait_cycles", count=1)
        window = self.cpu.window()
        latencies: list[float] = []
        for workload in group:
            time.sleep(self.rng.uniform(0, POLL_SECONDS))  # a random phase against the poll
            published = time.monotonic()
            publish(self.broker, workload.vhost, {workload.queues[0]: BURST})
            written = subject.call("wait_write", key=workload.key, timeout=120.0)
            latencies.append(written - published if written is not None else float("inf"))
        spent = window.stop()
        stats = subject.call("loop_stats")
        subject.call("stop_loop")
        print(f"  {label}: {report.distribution(latencies)}", flush=True)
        print(f"    each: {' '.join(f'{x:.2f}' for x in latencies)}", flush=True)
        cycles = stats["cycles"]
        if cycles:
            walls = [c[0] for c in cycles]
            print(f"    loop: {len(cycles)} cycles, wall median {statistics.median(walls):.2f} s, "
                  f"max {max(walls):.2f} s; broker {spent.net / spent.wall:.3f} CPU s per s "
                  f"(net of background) over {spent.wall:.0f} s", flush=True)  # fmt: skip
        rounds = stats["rounds"]
        if rounds:
            queues = statistics.median(r[2] for r in rounds)
            print(f"    probe: {len(rounds)} rounds, {queues:.0f} queues declared per round, "
                  f"wall median {statistics.median(r[0] for r in rounds) * 1000:.0f} ms, "
                  f"qscaler CPU median {statistics.median(r[1] for r in rounds) * 1000:.0f} ms "
                  "per round", flush=True)  # fmt: skip


# --- helpers -------------------------------------------------------------------------------


def _by_vhost(world: World, counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Per-workload queue counts regrouped by vhost."""
    vhost_of = {w.key: w.vhost for w in world.workloads}
    grouped: dict[str, dict[str, int]] = {}
    for key, queues in counts.items():
        grouped.setdefault(vhost_of[key], {}).update(queues)
    return grouped


@contextmanager
def _timed(what: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"  {what}: {time.monotonic() - started:.1f} s", flush=True)


def _machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"machine: {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
        f"RabbitMQ {_rabbitmq_version()} (statistics interval {STATS_INTERVAL_MS} ms), "
        f"Kubernetes {_kubernetes_version()}"
    )


def _rabbitmq_version() -> str:
    found = sorted(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*"))
    return found[-1].name.removeprefix("rabbitmq_server-") if found else "?"


def _kubernetes_version() -> str:
    versions = Path(__file__).resolve().parents[2] / "tests" / "k8s" / "versions.sh"
    done = subprocess.run(
        ["bash", "-c", f"source {versions} && echo v$K8S_VERSION"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
