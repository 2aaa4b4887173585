"""Wire the real adapters to the loop: what `qscaler run` and `plan` start.

Everything process-wide is built here and nowhere else: the queue source from
the settings, the Kubernetes client (counting its requests into the metrics),
the watch caches, the writer gated by the Lease, the Event sink, the metrics
registry, the HTTP endpoints and the activation probe. The loop itself only
sees protocols.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from qscaler.bindings_file import load_bindings
from qscaler.brokers import Broker, load_brokers
from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.errors import SettingsError
from qscaler.forecast_memory import ForecastMemory
from qscaler.loop import AlwaysLeader, ClusterView, ControlLoop, Leadership, LoopConfig, ScaleWriter
from qscaler.probe import ActivationProbe
from qscaler.record.event_sink import EventSink
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.server import Health, serve
from qscaler.record.status import status_document
from qscaler.settings import Settings
from qscaler.sources import QueueSource

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from qscaler.kube.cache import ClusterCache

log = logging.getLogger("qscaler")
#: What the broker's connection list shows for the activation probe's connections.
PROBE_CONNECTION_NAME = "qscaler-activation-probe"


def make_source(broker: Broker) -> QueueSource:
    """The queue source of one broker, of the kind it names."""
    if broker.source == "amqp":
        from qscaler.sources.amqp import AmqpSource

        return AmqpSource.from_broker(broker)
    if broker.source == "prometheus":
        from qscaler.sources.prometheus import PrometheusSource

        return PrometheusSource.from_broker(broker)
    from qscaler.sources.management import ManagementSource

    return ManagementSource.from_broker(broker)


@dataclass
class Runtime:
    """The running pieces, and how to stop them."""

    controller: ControlLoop
    metrics: Metrics
    health: Health
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    probes: dict[str, ActivationProbe] = field(default_factory=dict)  # by broker
    probe_seconds: float = 1.0

    def stop(self) -> None:
        """Stop in reverse order of start (on the way, the forecast's memory is
        saved, then the Lease released)."""
        self.stop_event.set()
        for stopper in reversed(self.stoppers):
            try:
                stopper()
            except Exception:  # shutting down: report, keep stopping the rest
                log.exception("error while stopping")


def build_runtime(
    settings: Settings,
    bindings: Path | None = None,
    serve_http: bool = True,
    registry: CollectorRegistry | None = None,
    one_shot: bool = False,
) -> Runtime:
    """Build (and start the background parts of) everything `run` needs.

    `one_shot` is `plan`: the cluster is listed once, on this thread, and an
    API server that does not answer is an error at once rather than a watch
    retrying in the background; nothing is written, not even an Event.
    """
    registry = registry or CollectorRegistry()
    metrics = Metrics(registry)
    health = Health(
        time.monotonic, stuck_after_seconds=max(30.0, 6 * settings.poll_interval_seconds)
    )
    reporter = OutcomeRecorder(
        metrics, dry_run=settings.dry_run, repeat_seconds=settings.event_repeat_seconds
    )
    stoppers: list[Callable[[], None]] = []
    server: ThreadingHTTPServer | None = None
    if serve_http:
        # Serve first: the probes answer (not ready yet) while the caches list.
        server = _serve(settings, registry, health, reporter)
        stoppers.append(_closer(server))
    brokers = load_brokers(settings)
    sources = {name: make_source(broker) for name, broker in brokers.items()}
    stoppers.extend(source.close for source in sources.values())
    probes = {}
    for name, broker in brokers.items():
        probe = None if one_shot else make_probe(broker, settings)
        if probe is not None:
            probes[name] = probe
            stoppers.append(probe.close)
    cluster: ClusterView
    cache: ClusterCache | None = None
    writer: ScaleWriter | None = None
    leadership: Leadership = AlwaysLeader()
    memory: ForecastMemory | None = None
    if bindings is not None:
        cluster = load_bindings(bindings, settings.label_selector)
    elif one_shot:
        cluster = _listed_cluster(settings, metrics)
    else:
        cache, writer, reporter.events, leadership, memory = _kubernetes(
            settings, metrics, health, stoppers
        )
        cluster = cache
    controller = ControlLoop(
        cluster=cluster,
        source=sources.pop(DEFAULT_BROKER),
        brokers=sources,
        writer=writer,
        recorder=reporter,
        clock=time.monotonic,
        leadership=leadership,
        memory=memory,
        config=LoopConfig(
            defaults=settings.process_defaults(tuple(brokers)),
            rate_smoothing_seconds=settings.rate_smoothing_seconds,
            dry_run=settings.dry_run,
        ),
    )
    stoppers.append(controller.reader.close)
    # Stoppers run in reverse: this one before the Lease's release, so the
    # next leader, which reloads on taking over, finds what was learned last.
    stoppers.append(controller.save_memory)
    if cache is not None and not cache.wait_synced(timeout=60):
        log.warning("watch caches not synced after 60s; continuing, readiness stays false")
    collect_garbage_less_often()
    return Runtime(
        controller, metrics, health, stoppers, server,
        probes=probes, probe_seconds=settings.activation_probe_seconds,
    )  # fmt: skip


def collect_garbage_less_often() -> None:
    """Run the cyclic garbage collector every 10,000 allocations, not every 700.

    A cycle over 20,000 queues allocates a few hundred thousand short-lived
    objects, almost all freed by reference counting. With the default
    threshold the collector ran about 130 times per cycle and took a quarter
    of qscaler's CPU time (docs/performance.md); at 10,000 it costs a few
    milliseconds, and memory does not grow (cyclic garbage is rare here).
    """
    gc.set_threshold(10_000, 10, 10)


def make_probe(broker: Broker, settings: Settings) -> ActivationProbe | None:
    """The activation probe of one broker, or None when it is off.

    It speaks AMQP, so it runs only for a broker with an AMQP URL (for the
    default broker: `QSCALER_AMQP_URL` set, or `QSCALER_SOURCE=amqp`). It has
    AMQP connections of its own (one per vhost it probes), apart from the
    source's, and runs on its own thread. They are named
    "qscaler-activation-probe" so that a broker operator can tell them apart.
    """
    if broker.amqp_url is None or not settings.activation_probe_seconds:
        log.info(
            "activation probe of broker %s off (QSCALER_ACTIVATION_PROBE_SECONDS=%g, AMQP URL %s)",
            broker.name,
            settings.activation_probe_seconds,
            "set" if broker.amqp_url else "not set",
        )
        return None
    from qscaler.sources.amqp import AmqpSource

    source = AmqpSource.from_broker(broker, connection_name=PROBE_CONNECTION_NAME)
    return ActivationProbe(source, max_queues=settings.activation_probe_max_queues)


def _closer(server: ThreadingHTTPServer) -> Callable[[], None]:
    def close() -> None:
        server.shutdown()
        server.server_close()

    return close


def _serve(
    settings: Settings, registry: CollectorRegistry, health: Health, reporter: OutcomeRecorder
) -> ThreadingHTTPServer:
    """Serve /metrics and friends; a port in use is a `SettingsError`, one line."""
    address, port = settings.metrics_address, settings.metrics_port
    try:
        return serve(address, port, registry, health, lambda: status_document(reporter.last_report))
    except OSError as exc:
        raise SettingsError(
            f"cannot serve /metrics on {address}:{port} ({exc.strerror}): "
            "set QSCALER_METRICS_PORT to a free port"
        ) from None


def _listed_cluster(settings: Settings, metrics: Metrics) -> ClusterCache:
    """The cluster's labelled workloads and HPAs, listed once (`plan`)."""
    from qscaler.kube.cache import ClusterCache
    from qscaler.kube.client import make_api_client

    api = make_api_client(settings.kubeconfig, _counter(metrics), settings.kube_context)
    cache = ClusterCache(api, settings.label_selector, settings.namespaces)
    cache.list_once(api.configuration.host)
    return cache


def _counter(metrics: Metrics) -> Callable[[str, str, int], None]:
    """Counts every Kubernetes request into the metrics."""

    def count(verb: str, resource: str, status: int) -> None:
        metrics.kube_requests.labels(verb, resource, str(status)).inc()
        if not 200 <= status < 300:
            metrics.kube_errors.labels(verb, resource, str(status)).inc()

    return count


def _kubernetes(
    settings: Settings, metrics: Metrics, health: Health, stoppers: list[Callable[[], None]]
) -> tuple[ClusterCache, ScaleWriter, EventSink, Leadership, ForecastMemory | None]:
    from qscaler.kube.cache import ClusterCache
    from qscaler.kube.client import make_api_client
    from qscaler.kube.events import KubeEvents
    from qscaler.kube.lease import LeaseElector
    from qscaler.kube.writer import KubeWriter

    api = make_api_client(settings.kubeconfig, _counter(metrics), settings.kube_context)
    cache = ClusterCache(api, settings.label_selector, settings.namespaces)
    cache.start()
    stoppers.append(cache.stop)
    health.synced = cache.synced
    leadership: Leadership = AlwaysLeader()
    if settings.leader_election:
        elector = LeaseElector(
            api,
            settings.lease_name,
            settings.resolved_lease_namespace(),
            settings.identity,
            lease_duration=settings.lease_duration_seconds,
            renew_deadline=settings.renew_deadline_seconds,
            retry_period=settings.retry_period_seconds,
            on_change=lambda leading: metrics.leader.set(1 if leading else 0),
        )
        elector.start()
        stoppers.append(elector.stop)
        leadership = elector
    writer = KubeWriter(api, may_write=leadership.is_leader)
    events = KubeEvents(api, settings.identity, repeat_seconds=settings.event_repeat_seconds)
    return cache, writer, events, leadership, _forecast_store(settings, api, metrics, leadership)


def _forecast_store(
    settings: Settings, api: ApiClient, metrics: Metrics, leadership: Leadership
) -> ForecastMemory | None:
    """The ConfigMap that keeps the forecast's history, beside the Lease; None when off."""
    from qscaler.kube.forecast_store import ForecastStore
    from qscaler.kube.lease import call_seconds

    if not settings.forecast_store:
        log.info("forecast store off (QSCALER_FORECAST_STORE=false): forecasts start fresh")
        return None
    return ForecastStore(
        api,
        settings.forecast_store_name,
        settings.resolved_lease_namespace(),
        may_write=leadership.is_leader,
        every_seconds=settings.forecast_store_seconds,
        count=lambda operation, result: metrics.forecast_store.labels(operation, result).inc(),
        # On the way out, one Lease call's time: the release still has its turn after it.
        flush_seconds=call_seconds(settings.renew_deadline_seconds),
    )


def run_forever(runtime: Runtime, interval: float, once: bool = False) -> None:
    """Cycle every `interval` seconds until SIGTERM/SIGINT (or once).

    The activation probe, if any, runs on a thread of its own every
    `runtime.probe_seconds`, so a wake never waits for a cycle's broker reads.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signum)
        runtime.stop_event.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    probing = [
        threading.Thread(
            target=_probe_forever, args=(runtime, name, probe), name=f"probe-{name}", daemon=True
        )
        for name, probe in ({} if once else runtime.probes).items()
    ]
    for thread in probing:
        thread.start()
    try:
        while not runtime.stop_event.is_set():
            started = time.monotonic()
            try:
                runtime.controller.cycle()
                runtime.health.cycle_done()
            except Exception:  # the loop must outlive any one bad cycle
                log.exception("cycle failed")
            if once:
                break
            runtime.stop_event.wait(max(0.0, interval - (time.monotonic() - started)))
    finally:
        runtime.stop_event.set()
        for thread in probing:
            thread.join(timeout=30)
        runtime.stop()


def _probe_forever(runtime: Runtime, broker: str, probe: ActivationProbe) -> None:
    """A round of `broker`'s probe every `probe_seconds` (start to start) until
    stopped; each broker's probe has a thread, so a broker that hangs delays
    only its own workloads' wakes."""
    try:
        due = time.monotonic() + runtime.probe_seconds
        while not runtime.stop_event.wait(max(0.0, due - time.monotonic())):
            due = time.monotonic() + runtime.probe_seconds
            try:
                found = probe.check(runtime.controller.sleepers(broker))
                if found is not None:
                    woken = ", ".join(str(r) for r in found.refs)
                    log.info("activation probe of broker %s: waking %s", broker, woken)
                    runtime.controller.wake(found.refs, found.ready, broker)
            except Exception:  # the probe must outlive any one bad round
                log.exception("activation probe failed")
    finally:
        probe.close()  # now, not when the loop's cycle ends: idle connections time out
