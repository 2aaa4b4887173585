"""Kubernetes Events on the workload, with repeats aggregated.

`kubectl describe deployment` is where a user looks first, so every scale,
every invalid binding and every source failure lands there, with the same
reason word as the metrics and logs. A failure repeats every poll; creating
an Event each time would flood etcd, so repeats of one (workload, type,
reason) update a single Event's count, message and lastTimestamp, at most
once per `repeat_seconds`, as client-go's EventCorrelator does. Repeats held
back within that period are written by `flush` (the recorder calls it after
every cycle) once the period is over, so an Event's count is right even when
the problem stopped in between. Events are best effort: a failure to record
one is logged and never stops a cycle.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from qscaler.core.workload import Workload

log = logging.getLogger("qscaler.events")

MAX_MESSAGE = 1024
MERGE_PATCH = "application/merge-patch+json"
#: (connect, read) seconds: recording an Event must never stall a cycle for long.
TIMEOUT = (3.0, 5.0)

#: (workload, type, reason, message): what makes two Events one series.
_SeriesKey = tuple[str, str, str, str]


@dataclass(slots=True)
class _EventSeries:
    """One Event and the repeats counted on it; `pending` repeats are not written yet."""

    name: str
    namespace: str
    count: int
    patched_at: float
    message: str
    pending: bool = False


class KubeEvents:
    """Implements the recorder's EventSink with core/v1 Events."""

    def __init__(
        self,
        api: client.ApiClient,
        instance: str,
        repeat_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.instance = instance
        self.repeat_seconds = repeat_seconds
        self.clock = clock
        self.wall_clock = wall_clock
        self._series: dict[_SeriesKey, _EventSeries] = {}

    def emit(self, workload: Workload, event_type: str, reason: str, message: str) -> None:
        """Create an Event, or count a repeat on the existing one."""
        message = message[:MAX_MESSAGE]
        # Warnings repeat with changing details (ages, counts): one series per
        # reason. Normal events are distinct actions: one series per message.
        key = (
            workload.uid or str(workload.ref),
            event_type,
            reason,
            "" if event_type == "Warning" else message,
        )
        self._guarded(key, f"{reason} on {workload.ref}", lambda: self._record(
            key, workload, event_type, reason, message
        ))  # fmt: skip

    def flush(self) -> None:
        """Write out the repeats held back, on each Event whose repeat period is over."""
        now = self.clock()
        for key, series in list(self._series.items()):
            if series.pending and now - series.patched_at >= self.repeat_seconds:
                self._guarded(key, series.name, partial(self._patch, series, now))

    def _guarded(self, key: _SeriesKey, what: str, write: Callable[[], None]) -> None:
        """Make one Event write; a failure is logged, and a 404 (the Event
        expired) starts a new series next time."""
        try:
            write()
        except ApiException as exc:
            if exc.status == 404:
                self._series.pop(key, None)
            log.warning("could not record Event %s: HTTP %s", what, exc.status)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("could not record Event %s: %s", what, exc)

    def _record(
        self, key: _SeriesKey, workload: Workload, event_type: str, reason: str, message: str
    ) -> None:
        now = self.clock()
        series = self._series.get(key)
        if series is None:
            name = self._create(workload, event_type, reason, message)
            self._series[key] = _EventSeries(name, workload.ref.namespace, 1, now, message)
            return
        series.count += 1
        series.message, series.pending = message, True
        if now - series.patched_at >= self.repeat_seconds:
            self._patch(series, now)

    def _create(self, workload: Workload, event_type: str, reason: str, message: str) -> str:
        ref = workload.ref
        now = self.wall_clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        name = f"{ref.name}.{secrets.token_hex(8)}"
        body = {
            "metadata": {"name": name, "namespace": ref.namespace},
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": ref.kind,
                "namespace": ref.namespace,
                "name": ref.name,
                "uid": workload.uid,
            },
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": "qscaler"},
            "reportingComponent": "qscaler",
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.core.create_namespaced_event(
            ref.namespace, body, _preload_content=False, _request_timeout=TIMEOUT
        )
        return name

    def _patch(self, series: _EventSeries, now: float) -> None:
        body = {
            "count": series.count,
            "message": series.message,
            "lastTimestamp": self.wall_clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.core.patch_namespaced_event(
            series.name,
            series.namespace,
            body,
            _content_type=MERGE_PATCH,
            _preload_content=False,
            _request_timeout=TIMEOUT,
        )
        series.patched_at, series.pending = now, False
