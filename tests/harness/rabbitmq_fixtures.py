"""pytest plugin: real RabbitMQ nodes, one per broker version, and one vhost per test.

Tests that need the broker take the `broker` or `vhost` fixture and are marked
`rabbitmq`. `broker` is parametrized over the versions in
tests/rabbitmq/versions.sh (test ids end in `[rabbitmq-3.10.8]`,
`[rabbitmq-4.0.5]`), so such a test runs once per version. A test whose
behaviour does not depend on the broker version narrows the matrix with
`@pytest.mark.rabbitmq_versions("3.10.8")`; QSCALER_RABBITMQ_VERSIONS="4.0.5"
narrows a whole local run.

A test that needs one specific version (or two nodes of different versions at
once) takes `rabbitmq_nodes` and calls `rabbitmq_nodes.get("4.0.5")`;
`rabbitmq_nodes.get(version, metrics_collector=False)` is a second node of that
version with the management statistics off. `broker_stats_off` is that node,
parametrized over the versions like `broker`.

Each node starts on first use (5-15 s) and stops at the end of the session. If
it cannot start, the tests that need it fail loudly with up.sh's output: a
broken broker setup must not look like a green run. Set
QSCALER_SKIP_RABBITMQ=1 to skip them instead (a quick local run without
RabbitMQ installed).

To reuse a node across runs, start it yourself (`tests/rabbitmq/up.sh DIR`)
and set QSCALER_TEST_RABBITMQ_ENV=DIR/env: the session attaches to it for its
version and leaves it running. KEEP_RABBITMQ_LOGS=1 keeps the work directory
of a node the session started.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.rabbitmq import Broker, BrokerStartError
from tests.harness.skipping import skip_marked, skipping

SKIP_VARIABLE = "QSCALER_SKIP_RABBITMQ"
ENV_FILE_VARIABLE = "QSCALER_TEST_RABBITMQ_ENV"
VERSIONS_VARIABLE = "QSCALER_RABBITMQ_VERSIONS"
#: The session fixtures that are one node per version (pytest_generate_tests).
NODE_FIXTURES = ("broker", "broker_stats_off")
VERSIONS_FILE = Path(__file__).resolve().parent.parent / "rabbitmq" / "versions.sh"


def known_versions() -> tuple[str, ...]:
    """The versions tests/rabbitmq/versions.sh installs, the default first."""
    match = re.search(rf'^{VERSIONS_VARIABLE}="([^"]*)"', VERSIONS_FILE.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{VERSIONS_FILE} does not set {VERSIONS_VARIABLE}")
    return tuple(match.group(1).split())


def selected_versions() -> tuple[str, ...]:
    """The versions this run tests: QSCALER_RABBITMQ_VERSIONS, or all known ones."""
    known = known_versions()
    wanted = tuple(os.environ.get(VERSIONS_VARIABLE, "").split()) or known
    unknown = [version for version in wanted if version not in known]
    if unknown:
        raise pytest.UsageError(
            f"{VERSIONS_VARIABLE}: unknown RabbitMQ version(s) {', '.join(unknown)}; "
            f"known: {' '.join(known)}"
        )
    return wanted


def _skipping() -> bool:
    return skipping(SKIP_VARIABLE)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that narrows a test's version matrix."""
    config.addinivalue_line(
        "markers",
        "rabbitmq_versions(*versions): run this test's `broker` only on these versions",
    )
    config.addinivalue_line(
        "markers",
        "rabbitmq_one_version: behaviour that cannot differ by broker version; run on the "
        "first selected version only (saves CI time)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes `broker` or `broker_stats_off` (or
    `rabbitmq_version`, for a test that starts a node of its own) once per
    selected broker version."""
    versions = selected_versions()
    marker = metafunc.definition.get_closest_marker("rabbitmq_versions")
    if marker is not None:
        versions = tuple(version for version in versions if version in marker.args)
    if metafunc.definition.get_closest_marker("rabbitmq_one_version") is not None:
        versions = versions[:1]
    ids = [f"rabbitmq-{version}" for version in versions]
    nodes = [name for name in NODE_FIXTURES if name in metafunc.fixturenames]
    if nodes:  # both nodes of one test instance run the same version
        values = [tuple(version for _ in nodes) for version in versions]
        metafunc.parametrize(nodes, values, indirect=True, ids=ids, scope="session")
    elif "rabbitmq_version" in metafunc.fixturenames:
        metafunc.parametrize("rabbitmq_version", versions, ids=ids)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With QSCALER_SKIP_RABBITMQ=1, skip every test marked `rabbitmq`."""
    skip_marked(items, "rabbitmq", SKIP_VARIABLE, "RabbitMQ")


class RabbitNodes:
    """The session's nodes, one per version, each started on first `get`."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        """Nothing starts until a test asks for a version."""
        self._tmp = tmp_path_factory
        self._nodes: dict[tuple[str, bool], Broker] = {}

    def get(self, version: str, *, metrics_collector: bool = True) -> Broker:
        """The running node of `version` (one of versions.sh's), started if needed.

        `metrics_collector=False`: a separate node of that version whose
        management plugin keeps no statistics (`disable_metrics_collector`)."""
        if _skipping():
            pytest.skip(f"{SKIP_VARIABLE}=1: RabbitMQ tests skipped")
        if version not in known_versions():
            raise ValueError(f"unknown RabbitMQ version {version!r}; known: {known_versions()}")
        key = (version, metrics_collector)
        if key not in self._nodes:
            self._nodes[key] = self._attach_or_start(version, metrics_collector)
        return self._nodes[key]

    def _attach_or_start(self, version: str, metrics_collector: bool) -> Broker:
        env_file = os.environ.get(ENV_FILE_VARIABLE)
        if env_file:
            attached = Broker.attach(Path(env_file))
            if (attached.version, attached.metrics_collector) == (version, metrics_collector):
                return attached
        settings = {} if metrics_collector else {"QSCALER_RABBITMQ_METRICS_COLLECTOR": "off"}
        suffix = "" if metrics_collector else "-stats-off"
        node = Broker(
            self._tmp.mktemp(f"rabbitmq-{version}{suffix}"), version=version, settings=settings
        )
        try:
            _start_retrying_taken_ports(node)
        except BrokerStartError as exc:
            pytest.fail(
                f"the test RabbitMQ {version} node did not start (set {SKIP_VARIABLE}=1 to "
                f"skip these tests):\n{exc}",
                pytrace=False,
            )
        return node

    def stop_all(self, *, show_logs: bool) -> None:
        """Stop every node the session started (attached ones keep running)."""
        for (version, collector), node in self._nodes.items():
            if show_logs:
                what = version if collector else f"{version} (statistics off)"
                print(f"\n--- RabbitMQ {what} log tail (tests failed) ---\n{node.logs()}")
            node.stop()
        self._nodes.clear()


def _start_retrying_taken_ports(node: Broker) -> None:
    """Start `node`; once more on new free ports if one was taken meanwhile.

    up.sh picks free ports and releases them before the node binds them, so on
    a busy machine another process can take one in between (eaddrinuse)."""
    try:
        node.start()
    except BrokerStartError as exc:
        if "eaddrinuse" not in str(exc) or node.workdir is None:
            raise
        node.stop()
        node.workdir = node.workdir.with_name(node.workdir.name + "-retry")
        node.start()


@pytest.fixture(scope="session")
def rabbitmq_nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RabbitNodes]:
    """Every broker version's node, started on demand: `rabbitmq_nodes.get("4.0.5")`."""
    nodes = RabbitNodes(tmp_path_factory)
    yield nodes
    nodes.stop_all(show_logs=bool(request.session.testsfailed))


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest, rabbitmq_nodes: RabbitNodes) -> Broker:
    """The node of the version this test instance runs on (see pytest_generate_tests)."""
    version = getattr(request, "param", None) or selected_versions()[0]
    return rabbitmq_nodes.get(version)


@pytest.fixture(scope="session")
def broker_stats_off(request: pytest.FixtureRequest, rabbitmq_nodes: RabbitNodes) -> Broker:
    """A node of this test instance's version with the management statistics off."""
    version = getattr(request, "param", None) or selected_versions()[0]
    return rabbitmq_nodes.get(version, metrics_collector=False)


@pytest.fixture
def vhost(broker: Broker, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh vhost for one test (the admin has full permissions); deleted after."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"qscaler-test-{slug}-{secrets.token_hex(3)}"
    broker.create_vhost(name)
    yield name
    broker.delete_vhost(name)
