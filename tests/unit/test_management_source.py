"""ManagementSource's request plan and error translation, at httpx's transport seam.

The live broker covers the happy paths and the errors it can produce
(tests/integration/test_management_source.py). What it cannot produce on
demand is here: 5xx answers, broken JSON, redirects, a listing that changes
between two pages, and exactly which requests a poll makes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from qscaler.errors import (
    ConfigError,
    SourceAuthError,
    SourceDataError,
    SourceError,
    SourceUnavailable,
)
from qscaler.sources import VhostRequest
from qscaler.sources.management import ManagementSource

SECRET = "Pw-0f-qscaler-4be1"  # recognisable, so a leak is easy to find
Handler = Callable[[httpx.Request], httpx.Response]


def item(name: str, ready: int = 1) -> dict[str, Any]:
    """A counted queue as the broker lists it."""
    return {"name": name, "messages_ready": ready, "messages_unacknowledged": 0, "consumers": 1}


def page(items: list[dict[str, Any]], number: int = 1, total: int | None = None) -> dict[str, Any]:
    """A listing page; `total` defaults to the number of items."""
    total = len(items) if total is None else total
    return {
        "items": items,
        "page": number,
        "page_count": max(1, -(-total // 500)),
        "page_size": 500,
        "total_count": total,
        "filtered_count": total,
        "item_count": len(items),
    }


class Broker:
    """A scripted management API that records the paths it was asked for."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.raw_path.decode().split("?")[0])
        return self.handler(request)

    def source(
        self, clock: Callable[[], float] = lambda: 42.0, page_size: int = 500
    ) -> ManagementSource:
        client = httpx.Client(
            base_url=f"http://qscaler:{SECRET}@rabbit.example:15672",
            transport=httpx.MockTransport(self),
            auth=("qscaler", SECRET),
        )
        return ManagementSource(
            client, clock=clock, owns_client=True, secret=SECRET, page_size=page_size
        )


def answer(status: int, document: object) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(document).encode())


def read(broker: Broker, request: VhostRequest) -> Any:
    return broker.source().read(request)


# --- which requests a poll makes ------------------------------------------------------


def test_one_bound_name_is_one_single_queue_request() -> None:
    broker = Broker(lambda _r: answer(200, item("orders", 5)))
    snapshot = read(broker, VhostRequest("/", frozenset({"orders"})))
    assert broker.paths == ["/api/queues/%2F/orders"]
    assert snapshot.queues["orders"].messages_ready == 5
    assert snapshot.read_at == 42.0


def test_several_names_in_a_small_vhost_are_one_listing_page() -> None:
    names = {"a", "b", "c"}
    broker = Broker(lambda _r: answer(200, page([item(n) for n in sorted(names)])))
    snapshot = read(broker, VhostRequest("v", frozenset(names)))
    assert broker.paths == ["/api/queues/v"]
    assert set(snapshot.queues) == names


def test_listing_request_parameters() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return answer(200, page([]))

    read(Broker(handler), VhostRequest("v", listing=True))
    params = seen[0].params
    assert params["page"] == "1"
    assert params["page_size"] == "500"
    assert (params["sort"], params["use_regex"], params["name"]) == ("name", "false", "")
    assert params["columns"].split(",")[:5] == [
        "name",
        "type",
        "messages_ready",
        "messages_unacknowledged",
        "consumers",
    ]


def test_page_count_learned_from_a_listing_makes_few_names_cheaper_one_by_one() -> None:
    big = 1100

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/queues/v":
            number = int(request.url.params["page"])
            return answer(200, page([item(f"q{number}")], number, total=big))
        return answer(200, item(request.url.path.rsplit("/", 1)[1]))

    broker = Broker(handler)
    source = broker.source()
    source.read(VhostRequest("v", listing=True))
    assert source.requests_made == 3  # 1100 queues: three pages of 500
    broker.paths.clear()
    source.read(VhostRequest("v", frozenset({"a", "b"})))
    assert broker.paths == ["/api/queues/v/a", "/api/queues/v/b"]


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_segment_names_are_only_read_from_a_listing(name: str) -> None:
    broker = Broker(lambda _r: answer(200, page([item(name)])))
    snapshot = read(broker, VhostRequest("v", frozenset({name})))
    assert broker.paths == ["/api/queues/v"]
    assert name in snapshot.queues


def test_vhost_and_names_are_single_percent_encoded_segments() -> None:
    broker = Broker(lambda r: answer(200, item("x/y z%#?é✓")))
    read(broker, VhostRequest("a/b", frozenset({"x/y z%#?é✓"})))
    assert broker.paths == ["/api/queues/a%2Fb/x%2Fy%20z%25%23%3F%C3%A9%E2%9C%93"]


def test_nothing_requested_makes_no_request() -> None:
    broker = Broker(lambda _r: answer(500, {}))
    snapshot = read(broker, VhostRequest("v"))
    assert (broker.paths, dict(snapshot.queues), snapshot.missing) == ([], {}, frozenset())


# --- missing queues and vhosts ------------------------------------------------------------


def test_missing_name_is_confirmed_before_being_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/queues/v":
            return answer(200, page([item("a"), item("b")]))
        return answer(404, {"error": "Object Not Found", "reason": "Not Found"})

    broker = Broker(handler)
    snapshot = read(broker, VhostRequest("v", frozenset({"a", "b", "gone"})))
    assert broker.paths == ["/api/queues/v", "/api/queues/v/gone"]
    assert snapshot.missing == {"gone"}


def test_all_names_missing_checks_the_vhost() -> None:
    broker = Broker(lambda _r: answer(404, {"error": "Object Not Found", "reason": "Not Found"}))
    with pytest.raises(SourceError, match="vhost 'nope' does not exist on http://rabbit"):
        read(broker, VhostRequest("nope", frozenset({"q"})))
    assert broker.paths == ["/api/queues/nope/q", "/api/queues/nope"]


def test_listing_of_a_missing_vhost_names_it() -> None:
    broker = Broker(lambda _r: answer(404, {"error": "Object Not Found"}))
    with pytest.raises(SourceError, match="vhost 'nope' does not exist"):
        read(broker, VhostRequest("nope", listing=True))


def test_uncounted_bound_queue_is_missing_not_empty() -> None:
    broker = Broker(lambda _r: answer(200, page([item("old"), {"name": "new"}])))
    snapshot = read(broker, VhostRequest("v", frozenset({"old", "new"})))
    assert set(snapshot.queues) == {"old"}
    assert snapshot.missing == {"new"}


def test_listing_reports_uncounted_queues_as_missing() -> None:
    broker = Broker(lambda _r: answer(200, page([item("old"), {"name": "new"}])))
    snapshot = read(broker, VhostRequest("v", listing=True))
    assert snapshot.missing == {"new"}


# --- a vhost that changes while it is paged ----------------------------------------------


def shrinking(deleted_after_page: int, times: int) -> Handler:
    """A 1,100-queue vhost that loses 700 queues after a page is read, `times` times."""
    state = {"shrinks": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/queues/v":
            name = request.url.path.rsplit("/", 1)[1]
            return answer(200, item(name))
        number = int(request.url.params["page"])
        if number == 1:
            return answer(200, page([item("a")], 1, total=1100))
        if state["shrinks"] < times and number > deleted_after_page:
            state["shrinks"] += 1
            return answer(400, {"error": "page_out_of_range", "reason": "Page out of range"})
        return answer(200, page([item(f"p{number}")], number, total=1100))

    return handler


def test_page_vanishing_once_is_read_again() -> None:
    broker = Broker(shrinking(deleted_after_page=1, times=1))
    snapshot = read(broker, VhostRequest("v", listing=True))
    assert set(snapshot.queues) == {"a", "p2", "p3"}


def test_page_vanishing_twice_holds_instead_of_returning_a_partial_vhost() -> None:
    broker = Broker(shrinking(deleted_after_page=1, times=2))
    with pytest.raises(SourceUnavailable, match="changed while they were being listed"):
        read(broker, VhostRequest("v", listing=True))


def test_total_changing_between_pages_is_noticed() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        number = int(request.url.params["page"])
        total = 1100 if calls["n"] % 2 else 1099  # every second page sees one fewer
        return answer(200, page([item(f"p{number}-{calls['n']}")], number, total=total))

    with pytest.raises(SourceUnavailable):
        read(Broker(handler), VhostRequest("v", listing=True))


def test_bound_names_survive_a_vanishing_page_by_confirmation() -> None:
    broker = Broker(shrinking(deleted_after_page=1, times=2))
    source = broker.source()
    source.read(VhostRequest("v", names=frozenset({"x"})))  # one name: read directly
    names = frozenset({"a", "b", "c", "d"})  # more names than pages: a listing
    snapshot = source.read(VhostRequest("v", names))
    assert set(snapshot.queues) == names
    assert snapshot.missing == frozenset()


# --- errors ---------------------------------------------------------------------------------


def test_5xx_is_unavailable() -> None:
    broker = Broker(lambda _r: answer(503, {"error": "service_unavailable", "reason": "busy"}))
    with pytest.raises(SourceUnavailable, match="HTTP 503: busy"):
        read(broker, VhostRequest("v", frozenset({"q"})))


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_name_the_vhost_and_what_to_check(status: int) -> None:
    broker = Broker(
        lambda _r: answer(status, {"error": "not_authorised", "reason": "Login failed"})
    )
    with pytest.raises(SourceAuthError) as caught:
        read(broker, VhostRequest("orders", frozenset({"q"})))
    message = str(caught.value)
    assert f"HTTP {status}: Login failed" in message
    assert "check the user/password or the user's permissions on vhost 'orders'" in message


def test_redirect_is_a_data_error() -> None:
    broker = Broker(lambda _r: httpx.Response(301, headers={"location": "/elsewhere"}))
    with pytest.raises(SourceDataError, match="HTTP 301"):
        read(broker, VhostRequest("v", frozenset({"q"})))


def test_200_that_is_not_json_is_a_data_error() -> None:
    broker = Broker(lambda _r: httpx.Response(200, content=b"<html>login</html>"))
    with pytest.raises(SourceDataError, match="not valid JSON"):
        read(broker, VhostRequest("v", listing=True))


@pytest.mark.parametrize("vhost", ["", ".", ".."])
def test_unaddressable_vhost_is_refused_without_a_request(vhost: str) -> None:
    broker = Broker(lambda _r: answer(200, page([])))
    with pytest.raises(SourceError, match="cannot be addressed"):
        read(broker, VhostRequest(vhost, listing=True))
    assert broker.paths == []


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(lambda _r: answer(500, {"reason": f"boom {SECRET}"}), id="5xx-echo"),
        pytest.param(lambda _r: answer(401, {"reason": f"user qscaler:{SECRET}"}), id="401-echo"),
        pytest.param(lambda _r: answer(418, {"reason": SECRET}), id="other-status-echo"),
        pytest.param(lambda _r: httpx.Response(200, content=SECRET.encode()), id="bad-json"),
    ],
)
def test_password_never_appears_in_messages_or_repr(handler: Handler) -> None:
    broker = Broker(handler)
    source = broker.source()
    with pytest.raises(SourceError) as caught:
        source.read(VhostRequest("v", frozenset({"q"})))
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in repr(source)
    assert "rabbit.example" in str(caught.value) or "vhost 'v'" in str(caught.value)


# --- the default: one unpaged listing per vhost ---------------------------------------------


def test_unpaged_listing_is_one_unsorted_request_with_only_the_columns_used() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return answer(200, [item("a"), item("b", 7)])

    broker = Broker(handler)
    snapshot = broker.source(page_size=0).read(VhostRequest("v", listing=True))
    assert [u.path for u in seen] == ["/api/queues/v"]
    params = dict(seen[0].params)
    assert params.pop("sort") == ""
    assert params.pop("columns").startswith("name,type,messages_ready,")
    assert params == {}
    assert snapshot.queues["b"].messages_ready == 7


def test_unpaged_vhost_size_decides_between_a_listing_and_single_reads() -> None:
    """Broker CPU: a single GET costs about five listed queues. 20 queues listed
    once; then 3 names (15) are cheaper one by one, 5 names (25) as a listing."""
    queues = [item(f"q{i:02d}") for i in range(20)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/queues/v":
            return answer(200, queues)
        return answer(200, item(request.url.path.rsplit("/", 1)[1]))

    broker = Broker(handler)
    source = broker.source(page_size=0)
    source.read(VhostRequest("v", listing=True))
    broker.paths.clear()
    source.read(VhostRequest("v", frozenset({"q00", "q01", "q02"})))
    assert broker.paths == ["/api/queues/v/q00", "/api/queues/v/q01", "/api/queues/v/q02"]
    broker.paths.clear()
    source.read(VhostRequest("v", frozenset({f"q0{i}" for i in range(5)})))
    assert broker.paths == ["/api/queues/v"]


def test_unpaged_listing_errors_name_the_queue_and_field() -> None:
    broker = Broker(
        lambda _r: answer(200, [item("fine"), {**item("broken"), "messages_ready": -3}])
    )
    with pytest.raises(SourceDataError) as caught:
        broker.source(page_size=0).read(VhostRequest("v", listing=True))
    assert "queue 'broken'" in str(caught.value)
    assert "messages_ready" in str(caught.value)


def test_unpaged_listing_of_a_missing_vhost_names_it() -> None:
    broker = Broker(lambda _r: answer(404, {"error": "Object Not Found", "reason": "Not Found"}))
    with pytest.raises(SourceError) as caught:
        broker.source(page_size=0).read(VhostRequest("gone", listing=True))
    assert "gone" in str(caught.value)


def test_page_size_beyond_the_broker_limit_is_refused() -> None:
    client = httpx.Client(
        base_url="http://rabbit.example", transport=httpx.MockTransport(lambda r: answer(200, []))
    )
    with pytest.raises(ConfigError):
        ManagementSource(client, page_size=501)
