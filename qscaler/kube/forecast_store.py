"""The forecast's memory in one ConfigMap, so that a restart or a new leader starts from it.

The forecast learns a workload's recurring bursts over hours
(`qscaler.core.forecast`); in memory only, every restart or leader change
would throw that away. One ConfigMap in qscaler's own namespace (beside the
Lease) holds one key per workload, `<namespace>.<kind>.<name>`, whose value
is the entry `qscaler.core.forecast_codec` writes. Why there, and not an
annotation on the workload: qscaler then needs no write access to workloads
beyond their scale subresource, and one read gives a new leader everything.

* **When**: read when this process becomes the leader (at start, too);
  written by the leader only, at most once every `every_seconds`, and only
  the entries that changed since the last write (a JSON merge patch of those
  keys, so entries another installation wrote are left alone). And once more
  when the process stops gracefully (`flush`, before the Lease is released):
  what changed since the last write, within a few seconds in all, so a
  rolling update loses nothing and a slow apiserver cannot hold the pod up.
* **Bounded**: an entry is at most `max_entry_bytes` (it keeps its newest
  buckets), the ConfigMap's data at most `max_total_bytes`, well under the
  1 MiB a ConfigMap may hold; when full, the least recently written entries
  are dropped (a workload that left stops being written, so it goes first).
* **Best effort**: a failed read or write is logged and counted and never
  stops a cycle. An entry that cannot be decoded (corrupt, truncated,
  another version) is logged once and that workload starts fresh, exactly as
  without the store. Until a read succeeded nothing is written, so a
  transient failure cannot overwrite what the last leader saved.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from qscaler.core.forecast_codec import Memory, decode, encode, remembered, saved_at
from qscaler.core.model import History
from qscaler.core.workload import WorkloadRef
from qscaler.kube.events import MERGE_PATCH

log = logging.getLogger("qscaler.forecast_store")

#: Room for every entry together; the rest of the 1 MiB is metadata's.
MAX_TOTAL_BYTES = 900 * 1024
#: One workload's entry (4 h of history is 2 to 8 KiB).
MAX_ENTRY_BYTES = 16 * 1024
#: Longest ConfigMap key.
MAX_KEY = 253
#: (connect, read) seconds: saving must never stall a cycle for long.
TIMEOUT = (3.0, 10.0)
#: A request's timeout, as the Kubernetes client takes it: one number is a total.
Timeout = float | tuple[float, float]

#: Called with (operation, result): read/write/restore/evict, ok/error.
Count = Callable[[str, str], None]


def entry_key(ref: WorkloadRef) -> str:
    """`<namespace>.<kind>.<name>`: a namespace and a kind have no dots, so it parses back."""
    return f"{ref.namespace}.{ref.kind}.{ref.name}"


class ForecastStore:
    """Implements the loop's `ForecastMemory` with one ConfigMap."""

    def __init__(
        self,
        api: client.ApiClient,
        name: str,
        namespace: str,
        may_write: Callable[[], bool],
        every_seconds: float = 60.0,
        count: Count | None = None,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.name, self.namespace = name, namespace
        self.may_write = may_write
        self.every_seconds = every_seconds
        self.flush_seconds = flush_seconds
        self.count: Count = count or (lambda _operation, _result: None)
        self.clock, self.wall_clock = clock, wall_clock
        self.max_entry_bytes, self.max_total_bytes = MAX_ENTRY_BYTES, MAX_TOTAL_BYTES
        self._saved: dict[str, str] = {}  # what the last read found, not yet recalled
        self._sizes: dict[str, tuple[int, float]] = {}  # every entry: bytes, written at
        self._kept: dict[WorkloadRef, Memory] = {}  # what this process last wrote
        self._mine: dict[str, str] = {}  # the same, as written
        self._read_ok = False
        self._written_at: float | None = None
        self._deadline: float | None = None  # on the loop clock, during a `flush`
        self._lock = threading.Lock()

    # --- reading ---

    def load(self) -> None:
        """Read what the last leader saved: the entries `recall` hands out next.

        Entries exactly as this process last wrote them are left out: its
        histories in memory are newer (it regains a lead it lost briefly).
        Until a read succeeds, nothing is written.
        """
        self._read_ok = False
        data = self._read()
        if data is None:
            return
        with self._lock:
            self._saved = {k: v for k, v in data.items() if self._mine.get(k) != v}
        log.info("forecast store %s/%s: %d entries read", self.namespace, self.name, len(data))

    def recall(self, ref: WorkloadRef) -> Memory | None:
        """The saved memory of `ref`, once (None: none, or one that cannot be used)."""
        with self._lock:
            text = self._saved.pop(entry_key(ref), None)
        if text is None:
            return None
        memory = decode(text, self.wall_clock() - self.clock())
        if memory is None:
            log.warning("forecast store: the entry of %s is not usable; it starts fresh", ref)
            self.count("restore", "error")
            return None
        self.count("restore", "ok")
        log.info("forecast store: %s restored (trust %.2f)", ref, memory.state.trust)
        return memory

    def _read(self) -> dict[str, str] | None:
        """The ConfigMap's data ({} when there is none yet); None when it cannot be read."""
        try:
            response = self.core.read_namespaced_config_map(
                self.name, self.namespace, _preload_content=False, _request_timeout=self._timeout()
            )
            data = _data(json.loads(response.data))
        except ApiException as exc:
            if exc.status != 404:
                self._failed("read", f"{exc.status} {exc.reason}")
                return None
            data = {}
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            self._failed("read", str(exc))
            return None
        self._read_ok = True
        self._sizes = _sizes(data)
        self.count("read", "ok")
        return data

    def _failed(self, operation: str, why: str) -> None:
        log.warning(
            "forecast store %s/%s: %s failed: %s", self.namespace, self.name, operation, why
        )
        self.count(operation, "error")

    # --- writing ---

    def keep(self, histories: Mapping[WorkloadRef, History]) -> None:
        """Write the entries that changed, when the last write is `every_seconds`
        old and this process leads. After a failed read, read again instead:
        the entries it finds are recalled before anything is written over them."""
        now = self.clock()
        if self._written_at is not None and now - self._written_at < self.every_seconds:
            return
        if not self.may_write():
            return
        self._written_at = now
        if not self._read_ok:
            self.load()
            return
        self._write_changed(histories)

    def flush(self, histories: Mapping[WorkloadRef, History]) -> None:
        """Write the entries that changed now, however recent the last write:
        the process is stopping, and up to `every_seconds` of learning would be
        lost. All its requests share `flush_seconds`, so a slow or unreachable
        apiserver cannot hold the shutdown up; running out of time is a failed
        write, logged and counted. Only a leader whose read succeeded writes."""
        if not self._read_ok or not self.may_write():
            return
        self._written_at = self.clock()
        self._deadline = self._written_at + self.flush_seconds
        try:
            self._write_changed(histories)
        finally:
            self._deadline = None

    def _write_changed(self, histories: Mapping[WorkloadRef, History]) -> None:
        changed = self._changed(histories)
        if changed:
            self._write(changed)

    def _timeout(self) -> Timeout:
        """TIMEOUT; during a `flush`, what is left of its time, as one total for
        connecting and reading (0 would mean no timeout at all to the client)."""
        if self._deadline is None:
            return TIMEOUT
        left = self._deadline - self.clock()
        if left <= 0:
            raise TimeoutError("no time left to save before stopping")
        return left

    def _changed(self, histories: Mapping[WorkloadRef, History]) -> dict[WorkloadRef, Memory]:
        changed = {}
        for ref, history in histories.items():
            memory = remembered(history)
            if memory is not None and self._kept.get(ref) != memory:
                changed[ref] = memory
        return changed

    def _write(self, changed: Mapping[WorkloadRef, Memory]) -> None:
        """One merge patch: the changed entries, and nulls for those evicted to make room."""
        offset, wall = self.wall_clock() - self.clock(), self.wall_clock()
        texts = {
            entry_key(ref): encode(memory, offset, wall, self.max_entry_bytes)
            for ref, memory in changed.items()
            if len(entry_key(ref)) <= MAX_KEY
        }
        evicted = evictions(self._sizes, texts, wall, self.max_total_bytes)
        patch: dict[str, str | None] = {k: v for k, v in texts.items() if k not in evicted}
        patch.update(dict.fromkeys(evicted))
        if not patch:
            return
        try:
            data = self._patch(patch)
        except ApiException as exc:
            self._failed("write", f"{exc.status} {exc.reason}")
            return
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            self._failed("write", str(exc))
            return
        self._sizes = _sizes(data)
        self._kept.update({ref: m for ref, m in changed.items() if entry_key(ref) in data})
        self._mine.update({k: v for k, v in texts.items() if data.get(k) == v})
        self.count("write", "ok")
        for _ in evicted:
            self.count("evict", "ok")

    def _patch(self, patch: Mapping[str, str | None]) -> dict[str, str]:
        """Merge the entries into the ConfigMap, creating it when it is not there."""
        try:
            response = self.core.patch_namespaced_config_map(
                self.name,
                self.namespace,
                {"data": dict(patch)},
                _content_type=MERGE_PATCH,
                _preload_content=False,
                _request_timeout=self._timeout(),
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            data = {k: v for k, v in patch.items() if v is not None}
            body = {"metadata": {"name": self.name, "namespace": self.namespace}, "data": data}
            response = self.core.create_namespaced_config_map(
                self.namespace, body, _preload_content=False, _request_timeout=self._timeout()
            )
        return _data(json.loads(response.data))


def evictions(
    sizes: Mapping[str, tuple[int, float]], texts: Mapping[str, str], now: float, limit: int
) -> list[str]:
    """The keys to drop, least recently written first, so that the entries
    with `texts` written in fit in `limit` bytes (keys count too)."""
    merged = dict(sizes)
    merged.update({k: (len(v.encode()), now) for k, v in texts.items()})
    total = sum(len(k) + size for k, (size, _) in merged.items())
    dropped = []
    for key, (size, _) in sorted(merged.items(), key=lambda item: (item[1][1], item[0])):
        if total <= limit:
            break
        dropped.append(key)
        total -= len(key) + size
    return dropped


def _data(configmap: Any) -> dict[str, str]:
    data = configmap.get("data") if isinstance(configmap, dict) else None
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


def _sizes(data: Mapping[str, str]) -> dict[str, tuple[int, float]]:
    """Each entry's size and when it was written (0 when that cannot be read: it goes first)."""
    return {k: (len(v.encode()), saved_at(v) or 0.0) for k, v in data.items()}
