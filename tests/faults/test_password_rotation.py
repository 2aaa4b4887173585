"""Broker fault 7: the password is rotated while qscaler runs.

In Kubernetes the password comes from a Secret mounted as a file
(`QSCALER_PASSWORD_FILE`), which the kubelet rotates in place. qscaler is
built from the real settings here, so the sources read that file the way a
pod does. The rotation happens on the real broker through its management API;
the old password then gets 401 (management) or a refused login (AMQP):
qscaler holds with kind=auth, never scales down, and picks up the new
password from the file on the next poll without a restart.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qscaler.settings import Settings
from qscaler.sources.amqp import AmqpSource
from qscaler.sources.management import ManagementSource
from tests.faults.conftest import CANARY
from tests.faults.rig import Rig, consumer
from tests.harness.faultproxy import TcpFaultProxy
from tests.harness.rabbitmq import Broker

pytestmark = pytest.mark.rabbitmq


@dataclass
class Rotating:
    """A broker user whose password lives in a file, as a mounted Secret."""

    user: str
    old: str
    new: str
    file: Path

    def settings(self, **values: object) -> Settings:
        """The settings `qscaler run` would read, with the password from the file."""
        return Settings(
            username=self.user,
            password_file=self.file,
            request_timeout_seconds=2.0,
            poll_interval_seconds=1.0,
            **values,  # type: ignore[arg-type]
        )


@pytest.fixture
def rotating(broker: Broker, vhost: str, tmp_path: Path) -> Iterator[Rotating]:
    """A monitoring user with the old password, readable by qscaler from a file."""
    account = Rotating(
        f"qscaler-rotating-{secrets.token_hex(3)}",
        f"{CANARY}-old",
        f"{CANARY}-new",
        tmp_path / "password",
    )
    broker.create_user(account.user, account.old, tags="monitoring")
    broker.grant(vhost, account.user)
    account.file.write_text(account.old + "\n")
    yield account
    broker.delete_user(account.user)


def settled(broker: Broker, vhost: str, rig: Rig) -> None:
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 30)
    rig.until("the victim at 3", rig.at(victim=3))
    rig.fault_starts()


def no_secret(rig: Rig, account: Rotating) -> None:
    reported = rig.everything_reported()
    assert account.old not in reported
    assert account.new not in reported


def test_07_rotated_on_the_broker_first_holds_with_kind_auth_until_the_file_changes(
    broker: Broker, vhost: str, rotating: Rotating
) -> None:
    """Broker first, file later: every poll in between is a 401, a kind=auth
    source error and a hold (never a scale-down); once the file has the new
    password the very next poll reads again, in the same process."""
    source = ManagementSource.from_settings(rotating.settings(management_url=broker.mgmt_url))
    rig = Rig(source, [consumer("victim", "work", vhost)])
    settled(broker, vhost, rig)

    broker.create_user(rotating.user, rotating.new, tags="monitoring")  # the rotation
    for polls in (1, 2):
        outcomes = rig.cycle()
        assert outcomes["victim"].reason == "SourceError"
        assert rig.source_errors(vhost, "auth") == polls
    assert rig.held("victim", "SourceError")
    warning = rig.fault_events("victim", "SourceError")[-1]
    assert "HTTP 401" in warning.message
    assert "check the user/password" in warning.message
    rig.assert_nothing_lowered()

    rotating.file.write_text(rotating.new + "\n")  # the kubelet updates the mounted Secret
    broker.publish(vhost, "work", 20)
    rig.until("the victim scaled to 5 with the new password", rig.at(victim=5))
    assert rig.source_errors(vhost, "auth") == 2, "no failed poll after the file changed"
    assert not rig.held("victim", "SourceError")
    no_secret(rig, rotating)
    source.close()


def test_07_file_updated_before_the_broker_costs_not_a_single_failed_poll(
    broker: Broker, vhost: str, rotating: Rotating
) -> None:
    """File first, broker later: the old password keeps working until the broker
    changes; the first 401 re-reads the file and the same request succeeds."""
    source = ManagementSource.from_settings(rotating.settings(management_url=broker.mgmt_url))
    rig = Rig(source, [consumer("victim", "work", vhost)])
    settled(broker, vhost, rig)

    rotating.file.write_text(rotating.new + "\n")
    assert rig.cycle()["victim"].reason == "Steady", "the old password still works"
    broker.create_user(rotating.user, rotating.new, tags="monitoring")
    broker.publish(vhost, "work", 20)
    rig.until("the victim scaled to 5 across the rotation", rig.at(victim=5))
    assert rig.source_errors(vhost, "auth") == 0
    no_secret(rig, rotating)
    source.close()


def test_07_amqp_source_picks_up_the_rotated_password_on_reconnect(
    broker: Broker, vhost: str, rotating: Rotating, amqp_proxy: TcpFaultProxy
) -> None:
    """AMQP logs in once per connection, so a rotation bites when the connection
    is replaced (dropped here by the proxy): the login with the old password is
    refused (kind=auth, hold) until the file has the new one."""
    source = AmqpSource.from_settings(rotating.settings(source="amqp", amqp_url=amqp_proxy.url))
    rig = Rig(source, [consumer("victim", "work", vhost)])
    broker.declare_queues(vhost, "work")
    broker.publish(vhost, "work", 30)
    assert rig.cycle()["victim"].reason == "ScaleFromZero"  # a passive declare is immediate
    rig.fault_starts()

    broker.create_user(rotating.user, rotating.new, tags="monitoring")
    assert amqp_proxy.drop_all() == 1
    outcomes = rig.cycle()
    assert outcomes["victim"].reason == "SourceError"
    assert rig.source_errors(vhost, "auth") == 1
    assert "refused the login" in rig.fault_events("victim", "SourceError")[-1].message
    rig.assert_nothing_lowered()

    rotating.file.write_text(rotating.new + "\n")
    broker.publish(vhost, "work", 20)
    assert rig.cycle()["victim"].reason == "ScaleUp"
    assert rig.fleet.replicas("victim") == 5
    assert rig.source_errors(vhost, "auth") == 1
    no_secret(rig, rotating)
    source.close()
