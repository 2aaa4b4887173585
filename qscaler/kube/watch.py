"""Keep a local cache of one kind of object with list + watch.

A `Reflector` lists once (paginated), then watches from the list's
resourceVersion, following bookmarks; on `410 Gone` (the server's watch
history no longer reaches back that far) it re-lists; on any other failure it
backs off and resumes the watch from the last resourceVersion, so an
apiserver restart costs one reconnect, not a full re-list. The control loop
reads the cache and makes no API call per cycle.

Why not `kubernetes.informer.SharedInformer` or `kubernetes.watch.Watch`?
Both deserialize every event into the generated models (costly at thousands of
workloads), `Watch` with raw events fails on an ERROR event, neither sets a
client-side read timeout (a silently cut connection would hang forever), and
the informer cannot say when its first list is done, which readiness needs.
This is the small subset qscaler uses, on raw JSON.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger("qscaler.watch")

T = TypeVar("T")
ListCall = Callable[..., Any]

LIST_PAGE_SIZE = 500


class Gone(Exception):
    """The watch's resourceVersion is too old: re-list."""


class Reflector(Generic[T]):
    """A watch-fed cache of `convert(object)` values keyed by namespace/name.

    `convert` returns None for objects the cache should not hold.
    """

    def __init__(
        self,
        name: str,
        list_call: ListCall,
        convert: Callable[[Mapping[str, Any]], T | None],
        watch_timeout_seconds: int = 300,
        connect_timeout_seconds: float = 10.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.name = name
        self.list_call = list_call
        self.convert = convert
        self.watch_timeout = watch_timeout_seconds
        self.connect_timeout = connect_timeout_seconds
        self.max_backoff = max_backoff_seconds
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._response: Any = None
        self.relists = 0
        self.errors = 0

    # --- reading the cache ---

    def items(self) -> list[T]:
        """A snapshot of the cached values."""
        with self._lock:
            return list(self._items.values())

    @property
    def synced(self) -> bool:
        """True once the first list has filled the cache."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        """Block until synced or `timeout`; True when synced."""
        return self._synced.wait(timeout)

    # --- running ---

    def start(self) -> threading.Thread:
        """Run on a daemon thread."""
        thread = threading.Thread(target=self.run, name=f"watch-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop, interrupting a watch in progress."""
        self._stop.set()
        response = self._response
        if response is not None:
            interrupt(response)

    def list_once(self) -> None:
        """List once, now, on this thread, and raise what failed: for one-shot
        commands (`qscaler plan`), which must answer or give up rather than
        retry in the background."""
        self._list()

    def run(self) -> None:
        """List, then watch until stopped."""
        version: str | None = None
        backoff = 1.0
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
                backoff = 1.0
            except Gone:
                log.info("%s: watch history expired (410), re-listing", self.name)
                version = None
            except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    break
                self.errors += 1
                log.warning("%s: watch failed (%s); retrying in %.0fs", self.name, exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _list(self) -> str:
        items: dict[str, T] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            body = self._call(**kwargs)
            for obj in body.get("items") or []:
                value = self.convert(obj)
                if value is not None:
                    items[_key(obj)] = value
            metadata = body.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                break
        with self._lock:
            self._items = items
        self.relists += 1
        self._synced.set()
        return str(metadata.get("resourceVersion", ""))

    def _call(self, **kwargs: Any) -> dict[str, Any]:
        response = self._request(_request_timeout=(self.connect_timeout, 60.0), **kwargs)
        body: dict[str, Any] = json.loads(response.data)
        return body

    def _request(self, **kwargs: Any) -> Any:
        """The raw response; the client raises ApiException on non-2xx."""
        try:
            return self.list_call(_preload_content=False, **kwargs)
        except ApiException as exc:
            if exc.status == 410:
                raise Gone from exc
            raise

    def _watch(self, version: str) -> str:
        response = self._request(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout,
            _request_timeout=(self.connect_timeout, self.watch_timeout + 30.0),
        )
        self._response = response
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    break
                if line:
                    version = self._apply(json.loads(line), version)
        finally:
            self._response = None
            response.release_conn()
        return version

    def _apply(self, event: Mapping[str, Any], version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone
            raise ApiException(status=obj.get("code"), reason=obj.get("message"))
        version = str((obj.get("metadata") or {}).get("resourceVersion", version))
        if kind == "BOOKMARK":
            return version
        key = _key(obj)
        value = self.convert(obj) if kind in ("ADDED", "MODIFIED") else None
        with self._lock:
            if value is None:
                self._items.pop(key, None)
            else:
                self._items[key] = value
        return version


def interrupt(response: urllib3.BaseHTTPResponse) -> None:
    """Shut a watch's connection down so its reading thread wakes up and ends.

    Why the failures are swallowed: `stop` reads the response while the watch
    thread may be finishing with it (the server ended the watch, or an error
    did), so by the time of the shutdown the response may be closed
    (ValueError), released to the pool (RuntimeError) or its socket closed
    (OSError). Each means the connection is already gone, which is what
    stopping wants; raising would stop the caller from stopping the other
    watches and closing its other clients.
    """
    try:
        response.shutdown()
    except (OSError, ValueError, RuntimeError) as exc:
        log.debug("watch connection already gone at stop (%s)", exc)


def _key(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
