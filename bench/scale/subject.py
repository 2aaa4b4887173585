"""qscaler under test, in a process of its own.

The benchmark's own work (creating 20,000 queues and 2,000 Deployments,
publishing, the per-queue baseline) would show up in qscaler's CPU time and
peak RSS if it ran in the same process, so qscaler runs here, spawned fresh,
and the benchmark commands it over a pipe. It is built exactly as `qscaler
run` builds it (`qscaler.app.build_runtime`: ManagementSource, ClusterCache,
KubeWriter, KubeEvents, OutcomeRecorder, the Lease, and the activation probe when
asked), then driven one `ControlLoop.cycle()` at a time, or by
`run_forever` for the burst measurements.

The only additions are instruments: the writer is wrapped to note when each
workload was first written, and cycles and probe rounds are timed.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from qscaler.app import Runtime, build_runtime, run_forever
from qscaler.core.actuation import Plan
from qscaler.core.wake import Sleeper
from qscaler.core.workload import Hpa, Workload
from qscaler.loop import ScaleWriter
from qscaler.outcome import CycleReport
from qscaler.probe import ActivationProbe, Wake
from qscaler.record.logs import configure_logging
from qscaler.settings import load_settings


def serve(conn: Connection, config: dict[str, Any]) -> None:
    """Answer the benchmark's commands until `exit`."""
    configure_logging("text", "WARNING")
    subject = Subject(config)
    while True:
        command, args = conn.recv()
        if command == "exit":
            subject.stop_loop()
            conn.send(("ok", subject.usage()))
            return
        try:
            conn.send(("ok", getattr(subject, command)(**args)))
        except Exception as exc:  # report it to the benchmark, keep serving
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class Writes:
    """When each workload was first written (monotonic seconds, shared across processes)."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.changed = threading.Condition()

    def note(self, key: str) -> None:
        with self.changed:
            self.first.setdefault(key, time.monotonic())
            self.changed.notify_all()

    def wait(self, key: str, timeout: float) -> float | None:
        with self.changed:
            self.changed.wait_for(lambda: key in self.first, timeout)
            return self.first.get(key)


class TimedWriter:
    """The real writer; notes the time a write returned."""

    def __init__(self, inner: ScaleWriter, writes: Writes) -> None:
        self.inner, self.writes = inner, writes

    def apply(self, workload: Workload, hpa: Hpa | None, plan: Plan) -> None:
        self.inner.apply(workload, hpa, plan)
        self.writes.note(str(workload.ref))

    def release(self, hpa: Hpa, plan: Plan) -> None:
        self.inner.release(hpa, plan)


class Subject:
    """One qscaler runtime at a time, and its instruments."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.runtime: Runtime | None = None
        self.registry = CollectorRegistry()
        self.writes = Writes()
        self.thread: threading.Thread | None = None
        self.cycles: list[tuple[float, float]] = []  # (wall, thread CPU) of looped cycles
        self.rounds: list[tuple[float, float, int]] = []  # probe rounds: wall, CPU, queues

    # --- commands ---

    def build(self, probe_seconds: float, probe_max_queues: int = 1000) -> dict[str, Any]:
        """A fresh runtime (the previous one stopped), leading, caches synced."""
        self.stop_loop()
        if self.runtime is not None:
            self.runtime.stop()
        c = self.config
        settings = load_settings(
            management_url=c["management_url"],
            amqp_url=c["amqp_url"],
            username=c["username"],
            password=c["password"],
            kubeconfig=Path(c["kubeconfig"]),
            lease_namespace="default",
            identity="scale-bench",
            activation_probe_seconds=probe_seconds,
            activation_probe_max_queues=probe_max_queues,
            management_page_size=c["page_size"],
            source=c.get("source", "management"),
            prometheus_urls=[c["prometheus_url"]] if c.get("prometheus_url") else [],
            metrics_port=0,
        )
        self.registry = CollectorRegistry()
        started = time.monotonic()
        runtime = build_runtime(settings, serve_http=False, registry=self.registry)
        deadline = time.monotonic() + 60
        while not runtime.controller.leadership.is_leader() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert runtime.controller.writer is not None
        runtime.controller.writer = TimedWriter(runtime.controller.writer, self.writes)
        self._instrument(runtime)
        self.runtime = runtime
        return {
            "seconds": time.monotonic() - started,
            "workloads": len(runtime.controller.cluster.workloads()),
            "leader": runtime.controller.leadership.is_leader(),
            "probe": _probe(runtime) is not None,
        }

    def cycle(self, profile: bool = False) -> dict[str, Any]:
        """One cycle, with what it cost and what it did."""
        runtime = self._runtime()
        source: Any = next(iter(runtime.controller.reader.sources.values()))
        kube, requests = self.kube_requests(), source.requests_made
        profiler = cProfile.Profile(time.thread_time) if profile else None  # CPU, not waiting
        wall, thread, process = time.monotonic(), time.thread_time(), time.process_time()
        if profiler is not None:
            profiler.enable()
        report: CycleReport = runtime.controller.cycle()
        if profiler is not None:
            profiler.disable()
        wall, thread = time.monotonic() - wall, time.thread_time() - thread
        return {
            "wall": wall,
            "thread_cpu": thread,
            "process_cpu": time.process_time() - process,
            "mgmt_requests": source.requests_made - requests,
            "kube": _delta(kube, self.kube_requests()),
            "outcomes": len(report.outcomes),
            "written": sum(1 for o in report.outcomes if o.written),
            "reasons": dict(Counter(str(o.reason) for o in report.outcomes)),
            "source_errors": dict(report.source_errors),
            "profile": _top(profiler) if profiler is not None else "",
        }

    def probe_rounds(self, count: int) -> dict[str, Any]:
        """`count` probe rounds on this thread, with no loop running."""
        runtime = self._runtime()
        probe = _probe(runtime)
        assert probe is not None, "built without a probe"
        sleepers = runtime.controller.sleepers()
        queues = probe.queues_probed
        wall, cpu = time.monotonic(), time.thread_time()
        for _ in range(count):
            probe.check(sleepers)
        return {
            "wall": time.monotonic() - wall,
            "cpu": time.thread_time() - cpu,
            "queues": probe.queues_probed - queues,
            "sleepers": len(sleepers),
        }

    def start_loop(self) -> None:
        """run_forever on a thread, as `qscaler run` runs it (default poll interval)."""
        runtime = self._runtime()
        self.cycles, self.rounds = [], []
        self.thread = threading.Thread(
            target=run_forever, args=(runtime, 5.0), name="run_forever", daemon=True
        )
        self.thread.start()

    def wait_cycles(self, count: int, timeout: float = 300) -> int:
        """Until `count` looped cycles have finished."""
        deadline = time.monotonic() + timeout
        while len(self.cycles) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.cycles)

    def wait_write(self, key: str, timeout: float) -> float | None:
        """When `key` (namespace/name) was first written, waiting up to `timeout`."""
        return self.writes.wait(key, timeout)

    def loop_stats(self) -> dict[str, Any]:
        """Cycles and probe rounds run by the loop so far."""
        return {"cycles": list(self.cycles), "rounds": list(self.rounds)}

    def stop_loop(self) -> None:
        """Stop run_forever (which stops the runtime)."""
        if self.thread is None or self.runtime is None:
            return
        self.runtime.stop_event.set()
        self.thread.join(timeout=120)
        self.thread, self.runtime = None, None

    def usage(self) -> dict[str, float]:
        """Peak RSS and CPU time of this process so far."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "max_rss_mb": usage.ru_maxrss / 1024,
            "rss_mb": _rss_mb(),
            "cpu": usage.ru_utime + usage.ru_stime,
        }

    def kube_requests(self) -> dict[str, float]:
        """Kubernetes API requests so far, by "verb resource"."""
        counts: dict[str, float] = {}
        for metric in self.registry.collect():
            if metric.name != "qscaler_kubernetes_requests":
                continue
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    key = f"{sample.labels['verb']} {sample.labels['resource']}"
                    counts[key] = counts.get(key, 0.0) + sample.value
        return counts

    # --- instruments ---

    def _runtime(self) -> Runtime:
        assert self.runtime is not None, "build first"
        return self.runtime

    def _instrument(self, runtime: Runtime) -> None:
        controller = runtime.controller
        cycle = controller.cycle

        def timed_cycle() -> CycleReport:
            wall, cpu = time.monotonic(), time.thread_time()
            report = cycle()
            self.cycles.append((time.monotonic() - wall, time.thread_time() - cpu))
            return report

        controller.cycle = timed_cycle  # type: ignore[method-assign]
        probe = _probe(runtime)
        if probe is None:
            return
        check: Callable[[list[Sleeper]], Wake | None] = probe.check

        def timed_check(sleepers: list[Sleeper]) -> Wake | None:
            wall, cpu, queues = time.monotonic(), time.thread_time(), probe.queues_probed
            found = check(sleepers)
            spent = (time.monotonic() - wall, time.thread_time() - cpu)
            self.rounds.append((*spent, probe.queues_probed - queues))
            return found

        probe.check = timed_check  # type: ignore[method-assign,assignment]


def _probe(runtime: Runtime) -> ActivationProbe | None:
    """The activation probe of the one broker the benchmark runs with (None: off)."""
    return next(iter(runtime.probes.values()), None)


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    keys = set(before) | set(after)
    delta = {k: int(after.get(k, 0) - before.get(k, 0)) for k in keys}
    return {k: v for k, v in sorted(delta.items()) if v}


def _top(profiler: cProfile.Profile, count: int = 20) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(count)
    return out.getvalue()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
