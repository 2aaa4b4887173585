"""Kubernetes Events on the workload, with repeats aggregated.

`kubectl describe deployment` is where a user looks first, so every scale,
every invalid binding and every source failure lands there, with the same
reason word as the metrics and logs. A failure repeats every poll; creating
an Event each time would flood etcd, so repeats of one (workload, type,
reason) update a single Event's count, message and lastTimestamp, at most
once per `repeat_seconds`, as client-go's EventCorrelator does. Events are
best effort: a failure to record one is logged and never stops a cycle.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from qscaler.core.workload import Workload

log = logging.getLogger("qscaler.events")

MAX_MESSAGE = 1024
MERGE_PATCH = "application/merge-patch+json"
#: (connect, read) seconds: recording an Event must never stall a cycle for long.
TIMEOUT = (3.0, 5.0)


@dataclass(slots=True)
class _EventSeries:
    name: str
    count: int
    patched_at: float
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
        self._series: dict[tuple[str, str, str, str], _EventSeries] = {}

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
        series = self._series.get(key)
        now = self.clock()
        try:
            if series is None:
                self._series[key] = _EventSeries(
                    self._create(workload, event_type, reason, message), 1, now
                )
            elif now - series.patched_at >= self.repeat_seconds:
                series.count += 1
                self._patch(workload, series, message)
                series.patched_at, series.pending = now, False
            else:
                series.count += 1
                series.pending = True
        except ApiException as exc:
            if exc.status == 404 and series is not None:
                del self._series[key]  # the Event expired: start a new series next time
            log.warning(
                "could not record Event %s on %s: HTTP %s", reason, workload.ref, exc.status
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("could not record Event %s on %s: %s", reason, workload.ref, exc)

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

    def _patch(self, workload: Workload, series: _EventSeries, message: str) -> None:
        body = {
            "count": series.count,
            "message": message,
            "lastTimestamp": self.wall_clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.core.patch_namespaced_event(
            series.name,
            workload.ref.namespace,
            body,
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )
