"""Kubernetes Events on the workload, with repeats aggregated.

`kubectl describe deployment` is where a user looks first, so every scale,
every invalid binding and every source failure lands there, with the same
reason word as the metrics and logs. A failure repeats every poll; creating
an Event each time would flood etcd, so repeats of one (workload, type,
reason) update a single Event's count, message and lastTimestamp, at most
once per `repeat_seconds`, as client-go's EventCorrelator does. Repeats held
back within that period are written by `flush` (the recorder calls it after
every cycle) once the period is over, so an Event's count is right even when
the problem stopped in between.

Events are best effort, but a scale's Event should not vanish because the
apiserver blinked (a restart, a 503, a connection refused) just as it was
written: a create that fails that way is kept and retried by `flush`, as
client-go's recorder retries in the background. Only transient failures are
retried (no connection, 429, 5xx; a 409 on a retry means the first attempt
did land), for up to `RETRY_SECONDS`, at most `MAX_HELD` Events at once, and
one failed retry ends a flush's retries, so an unreachable
apiserver costs a cycle one timeout, not one per held Event. A failure to
record an Event is logged and never stops a cycle.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from qscaler.core.workload import Workload

log = logging.getLogger("qscaler.events")

MAX_MESSAGE = 1024
MERGE_PATCH = "application/merge-patch+json"
#: (connect, read) seconds: recording an Event must never stall a cycle for long.
TIMEOUT = (3.0, 5.0)

#: A create that keeps failing is given up after this long (client-go: 12 tries 10 s apart).
RETRY_SECONDS = 120.0
#: Unwritten Events held for retry at once; beyond it the newest is dropped.
MAX_HELD = 1000

#: (workload, type, reason, message): what makes two Events one series.
_SeriesKey = tuple[str, str, str, str]


@dataclass(slots=True)
class _EventSeries:
    """One Event and the repeats counted on it; `pending` repeats are not written yet;
    `what` names it in the log."""

    name: str
    namespace: str
    count: int
    patched_at: float
    message: str
    pending: bool = False
    what: str = ""


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
        #: The create bodies of the series whose Event does not exist yet (its
        #: create failed and will be retried), oldest first.
        self._unwritten: dict[_SeriesKey, dict[str, Any]] = {}

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
        """Retry the Events not created yet, then write out the repeats held
        back on each Event whose repeat period is over."""
        now = self.clock()
        self._retry_creates()
        for key, series in list(self._series.items()):
            period_over = now - series.patched_at >= self.repeat_seconds
            if key not in self._unwritten and series.pending and period_over:
                self._guarded(key, series.name, partial(self._patch, series, now))

    def _retry_creates(self) -> None:
        """Create the held Events, oldest first, until one fails again."""
        for key in list(self._unwritten):
            if not self._try_create(key, retry=True) and key in self._unwritten:
                return  # still held: the apiserver is still in trouble

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
            body = self._body(workload, event_type, reason, message)
            name, what = body["metadata"]["name"], f"{reason} on {workload.ref}"
            self._series[key] = _EventSeries(
                name, workload.ref.namespace, 1, now, message, what=what
            )
            self._unwritten[key] = body
            self._try_create(key, retry=False)
            return
        series.count += 1
        series.message, series.pending = message, True
        if key in self._unwritten:  # not created yet: the create carries the repeats
            return
        if now - series.patched_at >= self.repeat_seconds:
            self._patch(series, now)

    def _try_create(self, key: _SeriesKey, retry: bool) -> bool:
        """Create a held Event; keep it for `flush` when the failure may pass.

        True when the Event now exists (a 409 on a retry: the earlier try
        landed though its answer was lost)."""
        series, body = self._series[key], self._unwritten[key]
        body["count"], body["message"] = series.count, series.message
        try:
            self.core.create_namespaced_event(
                series.namespace, body, _preload_content=False, _request_timeout=TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 409 and retry:
                return self._created(key)
            return self._hold(key, f"HTTP {exc.status}", _transient(exc.status))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return self._hold(key, str(exc), transient=True)
        return self._created(key)

    def _created(self, key: _SeriesKey) -> bool:
        del self._unwritten[key]
        self._series[key].pending = False
        return True

    def _hold(self, key: _SeriesKey, why: str, transient: bool) -> bool:
        """Keep a failed create for a retry, or give it up; False either way."""
        series = self._series[key]
        in_time = self.clock() - series.patched_at < RETRY_SECONDS
        if transient and in_time and len(self._unwritten) <= MAX_HELD:
            log.warning("could not record Event %s: %s; will retry", series.what, why)
            return False
        log.warning("could not record Event %s: %s; given up", series.what, why)
        del self._series[key], self._unwritten[key]
        return False

    def _body(
        self, workload: Workload, event_type: str, reason: str, message: str
    ) -> dict[str, Any]:
        ref = workload.ref
        now = self.wall_clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "metadata": {"name": f"{ref.name}.{secrets.token_hex(8)}", "namespace": ref.namespace},
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


def _transient(status: int) -> bool:
    """A failure that may pass on its own: throttled, or the apiserver's own trouble."""
    return status == 429 or status >= 500
