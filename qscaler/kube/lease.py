"""Leader election on a coordination.k8s.io/v1 Lease.

Two qscaler replicas run for availability; only the holder of the Lease
writes. The rules follow client-go's leaderelection, and two of them are why
this is not `kubernetes.leaderelection` (whose config also `sys.exit()`s on a
bad argument):

* **No wall clocks compared across machines.** A follower decides the lease
  expired when *it* has seen the same record, unchanged, for
  leaseDurationSeconds on its own monotonic clock; the leader judges its own
  freshness on its monotonic clock too. Clock skew and jumps change nothing.
* **Stop writing before anyone can take over.** `is_leader()` is true only
  within `renew_deadline` of the start of the last successful renewal; a
  follower needs `lease_duration` (> renew_deadline) without change. A
  leader cut off from the apiserver stops writing first.

Every update carries the resourceVersion it read, so two candidates cannot
both win: the loser gets 409.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("qscaler.lease")


def call_seconds(renew_deadline: float) -> float:
    """How long one call to the apiserver may take: half the renew deadline
    (at least 1 s), so that a leader cut off from the apiserver notices in
    time to stop writing, and a stopping leader still releases the Lease."""
    return max(1.0, renew_deadline / 2)


def _micro_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Campaigns for a Lease on a background thread; `is_leader()` gates writes."""

    def __init__(
        self,
        api: client.ApiClient,
        name: str,
        namespace: str,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.leases = client.CoordinationV1Api(api)
        self.name, self.namespace, self.identity = name, namespace, identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock = clock
        self.wall_clock = wall_clock
        self.on_change = on_change
        self._renewed_at: float | None = None
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._was_leader = False
        self._stop = threading.Event()
        self._timeout = call_seconds(renew_deadline)

    # --- the gate ---

    def is_leader(self) -> bool:
        """True within renew_deadline of the start of the last successful renewal."""
        renewed = self._renewed_at
        return renewed is not None and self.clock() - renewed < self.renew_deadline

    # --- the campaign ---

    def start(self) -> threading.Thread:
        """Campaign on a daemon thread."""
        thread = threading.Thread(target=self.run, name="lease", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        """Try to acquire or renew every retry_period until stopped."""
        while not self._stop.is_set():
            self.try_once()
            self._notify()
            self._stop.wait(self.retry_period * (1 + 0.2 * random.random()))

    def stop(self, release: bool = True) -> None:
        """Stop campaigning; hand the lease over at once when we hold it."""
        self._stop.set()
        if release and self.is_leader():
            self._release()
        self._renewed_at = None
        self._notify()

    def try_once(self) -> bool:
        """One acquire-or-renew attempt; True when we hold the lease afterwards."""
        started = self.clock()
        try:
            lease = self._read()
            if lease is None:
                self._create()
            elif not self._may_take(lease, started):
                return False
            else:
                self._update(lease, taking_over=self._holder(lease) != self.identity)
        except ApiException as exc:
            log.info("lease %s/%s: %s %s", self.namespace, self.name, exc.status, exc.reason)
            if exc.status == 409:
                self._renewed_at = None  # someone else wrote in between: not ours
            return False
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("lease %s/%s: API server unreachable: %s", self.namespace, self.name, exc)
            return False
        self._renewed_at = started
        return True

    def _may_take(self, lease: dict[str, Any], now: float) -> bool:
        holder = self._holder(lease)
        if holder == self.identity or not holder:
            return True
        spec = lease.get("spec") or {}
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, now
            self._renewed_at = None
            return False
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        return now - self._observed_at > duration

    def _holder(self, lease: dict[str, Any]) -> str:
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    # --- API calls ---

    def _read(self) -> dict[str, Any] | None:
        try:
            response = self.leases.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        lease: dict[str, Any] = json.loads(response.data)
        return lease

    def _spec(self, transitions: int, acquired: str | None = None) -> dict[str, Any]:
        now = _micro_time(self.wall_clock())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _create(self) -> None:
        body = {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": self._spec(0)}
        self.leases.create_namespaced_lease(
            self.namespace, body, _preload_content=False, _request_timeout=self._timeout
        )

    def _update(self, lease: dict[str, Any], taking_over: bool) -> None:
        spec = lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0)
        if taking_over:
            lease["spec"] = self._spec(transitions + 1)
        else:
            lease["spec"] = self._spec(transitions, acquired=spec.get("acquireTime"))
        self.leases.replace_namespaced_lease(
            self.name, self.namespace, lease, _preload_content=False, _request_timeout=self._timeout
        )

    def _release(self) -> None:
        try:
            lease = self._read()
            if lease is None or self._holder(lease) != self.identity:
                return
            spec = lease.get("spec") or {}
            lease["spec"] = {
                "leaseDurationSeconds": 1,
                "leaseTransitions": int(spec.get("leaseTransitions") or 0),
                "renewTime": _micro_time(self.wall_clock()),
            }
            self.leases.replace_namespaced_lease(
                self.name,
                self.namespace,
                lease,
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            log.info("released lease %s/%s", self.namespace, self.name)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)

    def _notify(self) -> None:
        leading = self.is_leader()
        if leading != self._was_leader:
            self._was_leader = leading
            log.info(
                "%s leadership of %s/%s",
                "acquired" if leading else "lost",
                self.namespace,
                self.name,
            )
            if self.on_change is not None:
                self.on_change(leading)
