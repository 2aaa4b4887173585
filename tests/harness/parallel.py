"""pytest plugin: how `make test` shares the suite between pytest-xdist workers.

Most of the whole suite's time is real-time waiting (a broker's rates, the
HPA controller's sync, a forecast's period), not CPU, so `make test` runs it
in two xdist workers with `--dist loadgroup`. Each worker is a pytest session
of its own and starts its own session resources on first use: RabbitMQ nodes
and the control plane on free ports, in their own temporary directories
(tmp_path_factory is per worker), so two of them never clash.

This plugin gives every test an `xdist_group`, the unit a worker takes whole:

- every test of the private Docker engine is in one group, `docker`: only one
  worker ever starts dockerd and builds or loads the cached images, so a cold
  image cache is built once, never by two workers at once;
- a test of the broker or the control plane is grouped by its file and its
  broker version, so a file's module fixtures are set up once per version and
  a file's two version passes can run side by side;
- a test that needs none of them (unit, simulator, command line, fuzzing) has
  no group: xdist hands those out one by one, so the long fuzzing tests (a few
  minutes each at 10,000 examples) spread over both workers.

Groups are handed out in the order of this plugin's sort, longest expected
first (the known long files, then the end-to-end files, then the broker ones,
then fuzzing, then the rest), so no long group starts last and leaves one
worker busy alone at the end. Without `--dist loadgroup` (a plain `pytest`) nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

#: The files that take minutes each (docs/testing.md, "What the whole suite costs").
LONGEST_FIRST = (
    "tests/e2e/test_forecast.py",
    "tests/e2e/test_hpa_cpu.py",
    "tests/e2e/test_kube_faults.py",
    "tests/e2e/test_hpa_faults.py",
    "tests/e2e/test_actuation.py",
)
#: Tests of no service that take minutes at CI's 10,000 hypothesis examples.
LONG_WITHOUT_SERVICES = ("tests/fuzz/", "tests/unit/test_binding.py")
DOCKER_GROUP = "docker"
VERSION_FIXTURES = ("broker", "broker_stats_off", "rabbitmq_version")
SERVICE_MARKERS = ("docker", "k8s", "rabbitmq")
SERVICE_FIXTURES = ("rabbitmq_nodes", "control_plane", "docker_engine", *VERSION_FIXTURES)


def _uses_docker(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return item.get_closest_marker("docker") is not None or "docker_engine" in fixtures


def _broker_version(item: pytest.Item) -> str | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return next((str(params[name]) for name in VERSION_FIXTURES if name in params), None)


def _uses_services(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return any(item.get_closest_marker(marker) for marker in SERVICE_MARKERS) or any(
        name in fixtures for name in SERVICE_FIXTURES
    )


def group_of(item: pytest.Item) -> str:
    """The group `item` runs in: `docker`, its file and broker version, or
    (a test of no service) its own id."""
    if not _uses_services(item):
        return item.nodeid
    if _uses_docker(item):
        return DOCKER_GROUP
    version = _broker_version(item)
    return item.nodeid.split("::", 1)[0] + (f"-rabbitmq-{version}" if version else "")


def _rank(item: pytest.Item) -> int:
    """Lower runs earlier: the known long files, docker, e2e, broker, the rest.

    Why an order at all: xdist hands a free worker the next group in the
    collection's order, so a long group that comes last runs alone at the end."""
    path = item.nodeid.split("::", 1)[0]
    if path in LONGEST_FIRST:
        return LONGEST_FIRST.index(path)
    if _uses_docker(item):
        return len(LONGEST_FIRST)
    for offset, marker in enumerate(("k8s", "rabbitmq"), start=1):
        if item.get_closest_marker(marker) is not None:
            return len(LONGEST_FIRST) + offset
    if path.startswith(LONG_WITHOUT_SERVICES):
        return len(LONGEST_FIRST) + 3
    return len(LONGEST_FIRST) + 4


def _group_order(items: list[pytest.Item]) -> dict[str, tuple[int, int]]:
    """Each group's place: its lowest rank, then where it first appears."""
    order: dict[str, tuple[int, int]] = {}
    for index, item in enumerate(items):
        group = group_of(item)
        rank, first = order.get(group, (_rank(item), index))
        order[group] = (min(rank, _rank(item)), first)
    return order


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Iterator[None]:
    """Under `--dist loadgroup`, group every test and order the groups longest first.

    A wrapper: the marks must be there before xdist's own hook turns them into
    the test ids it schedules by, and the order is set after pytest's, which
    sorts by session-scoped parameters (the broker version) across files. The
    sort is stable, so the tests of one group keep pytest's order."""
    if config.getoption("dist", "no") != "loadgroup":
        return (yield)
    for item in items:
        if _uses_services(item):
            item.add_marker(pytest.mark.xdist_group(group_of(item)))
    yield
    order = _group_order(items)
    items.sort(key=lambda item: order[group_of(item)])
