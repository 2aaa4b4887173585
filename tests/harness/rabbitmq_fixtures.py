"""pytest plugin: one real RabbitMQ node per test session, one vhost per test.

Tests that need the broker take the `broker` or `vhost` fixture and are marked
`rabbitmq`. The node starts on first use (about 6 s) and stops at the end of
the session. If it cannot start, those tests fail loudly with up.sh's output:
a broken broker setup must not look like a green run. Set
QSCALER_SKIP_RABBITMQ=1 to skip them instead (a quick local run without
RabbitMQ installed).

To reuse a node across runs, start it yourself (`tests/rabbitmq/up.sh DIR`)
and set QSCALER_TEST_RABBITMQ_ENV=DIR/env: the session attaches to it and
leaves it running. KEEP_RABBITMQ_LOGS=1 keeps the work directory of a node the
session started.
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


def _skipping() -> bool:
    return skipping(SKIP_VARIABLE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With QSCALER_SKIP_RABBITMQ=1, skip every test marked `rabbitmq`."""
    skip_marked(items, "rabbitmq", SKIP_VARIABLE, "RabbitMQ")


@pytest.fixture(scope="session")
def broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    """The session's broker, started on first use."""
    if _skipping():
        pytest.skip(f"{SKIP_VARIABLE}=1: RabbitMQ tests skipped")
    env_file = os.environ.get(ENV_FILE_VARIABLE)
    if env_file:
        attached = Broker.attach(Path(env_file))
        yield attached
        attached.close_api()
        return
    node = Broker(tmp_path_factory.mktemp("rabbitmq"))
    failure = None
    try:
        node.start()
    except BrokerStartError as exc:
        failure = str(exc)
    if failure is not None:
        pytest.fail(
            f"the test RabbitMQ node did not start (set {SKIP_VARIABLE}=1 to skip these "
            f"tests):\n{failure}",
            pytrace=False,
        )
    yield node
    if request.session.testsfailed:
        print(f"\n--- RabbitMQ log tail (tests failed) ---\n{node.logs()}")
    node.stop()


@pytest.fixture
def vhost(broker: Broker, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh vhost for one test (the admin has full permissions); deleted after."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"qscaler-test-{slug}-{secrets.token_hex(3)}"
    broker.create_vhost(name)
    yield name
    broker.delete_vhost(name)
