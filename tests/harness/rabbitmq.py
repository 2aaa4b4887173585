"""The real RabbitMQ broker for tests, driven from Python.

`Broker.start()` runs tests/rabbitmq/up.sh (an isolated node on 127.0.0.1 with
the management and Prometheus plugins, AMQP, AMQPS and management HTTP and
HTTPS listeners) and reads the env file it writes. The helpers set up what a
test needs on the real broker: vhosts with permissions through the management
API; queues declared and messages published over AMQP with pika (AMQP can
create names the HTTP API cannot address, such as ".."); consumers that hold
messages unacknowledged, so that `messages_unacknowledged` is real.

The management API refreshes its numbers every statistics interval, so tests
wait for what they expect with `poll_until` (bounded, never a blind sleep).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pika
import pika.exceptions

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parent / "rabbitmq"
T = TypeVar("T")


class BrokerStartError(RuntimeError):
    """up.sh failed; the message carries its output (and the node's log tail)."""


def poll_until(
    what: str,
    check: Callable[[], T],
    done: Callable[[T], bool] = bool,
    timeout: float = 30.0,
    interval: float = 0.2,
    retry_on: tuple[type[Exception], ...] = (),
) -> T:
    """Call `check` until `done(result)`; fail naming `what` and the last result.

    Exceptions listed in `retry_on` count as "not yet" (for example a source
    error while the broker has not counted a new queue).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except retry_on as exc:
            last = exc
        else:
            if done(result):
                return result
            last = result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def _read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, raw = line.partition("=")
        if sep and key.startswith("QSCALER_RABBITMQ_"):
            words = shlex.split(raw)
            values[key.removeprefix("QSCALER_RABBITMQ_")] = words[0] if words else ""
    return values


@dataclass
class Holder:
    """A consumer holding messages unacknowledged; closing it requeues them."""

    connection: Any
    channel: Any
    received: list[int] = field(default_factory=list)

    def close(self) -> None:
        """Close the connection: the broker requeues what was not acked."""
        with contextlib.suppress(pika.exceptions.AMQPError):
            self.connection.close()


class Broker:
    """One isolated RabbitMQ node (or an external one described by an env file)."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        owned: bool = True,
        settings: Mapping[str, str] | None = None,
        version: str | None = None,
    ) -> None:
        """`settings`: extra environment for up.sh; `version`: one of versions.sh's."""
        self.workdir = workdir
        self.owned = owned
        self.settings = dict(settings or {})
        if version:
            self.settings["QSCALER_RABBITMQ_VERSION"] = version
        self._env: dict[str, str] = {}
        self._api: httpx.Client | None = None

    # --- lifecycle -------------------------------------------------------------

    @classmethod
    def attach(cls, env_file: Path) -> Broker:
        """Use a node someone else started with up.sh (never stopped by us)."""
        broker = cls(env_file.parent, owned=False)
        broker._env = _read_env(env_file)
        return broker

    def start(self) -> None:
        """Run up.sh; `BrokerStartError` with its output when the node is not ready."""
        args = [str(SCRIPTS / "up.sh")]
        if self.workdir is not None:
            args.append(str(self.workdir))
        run = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, **self.settings},
        )
        if run.returncode != 0:
            if self.workdir is not None and (self.workdir / "env").exists():
                self._env = _read_env(self.workdir / "env")  # PIDs, for a post-mortem
            raise BrokerStartError(
                f"tests/rabbitmq/up.sh exited {run.returncode}\n{run.stderr}\n{run.stdout}"
            )
        self.workdir = Path(run.stdout.strip().splitlines()[-1])
        self._env = _read_env(self.workdir / "env")

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop the node (down.sh); the work directory goes unless `keep_data`."""
        self.close_api()
        if not self.owned or self.workdir is None:
            return
        env = dict(os.environ)
        if keep_data:
            env["KEEP_RABBITMQ_LOGS"] = "1"
        subprocess.run(
            [str(SCRIPTS / "down.sh"), str(self.workdir)], env=env, timeout=180, check=False
        )

    def restart(self) -> None:
        """Stop and start the same node: same name, ports, password and data."""
        if not self.owned:
            raise RuntimeError("cannot restart an external broker")
        self.stop(keep_data=True)
        self.start()

    def close_api(self) -> None:
        """Close the management API client."""
        if self._api is not None:
            self._api.close()
            self._api = None

    # --- where it is -------------------------------------------------------------

    @property
    def version(self) -> str:
        """The RabbitMQ version the node runs (tests/rabbitmq/versions.sh)."""
        return self._env.get("VERSION", "")

    @property
    def mgmt_url(self) -> str:
        """Management API over plain HTTP."""
        return self._env["MGMT_URL"]

    @property
    def https_url(self) -> str:
        """Management API over HTTPS (certificate signed by `ca_file`)."""
        return self._env["HTTPS_URL"]

    @property
    def amqp_url(self) -> str:
        """amqp://127.0.0.1:PORT (no credentials, no vhost)."""
        return self._env["AMQP_URL"]

    @property
    def amqps_url(self) -> str:
        """amqps://127.0.0.1:PORT (certificate signed by `ca_file`)."""
        return self._env["AMQPS_URL"]

    @property
    def amqp_port(self) -> int:
        """The plain AMQP port."""
        return int(self._env["AMQP_PORT"])

    @property
    def user(self) -> str:
        """The administrator (the only user up.sh creates)."""
        return self._env["USER"]

    @property
    def password(self) -> str:
        """The administrator's generated password."""
        return self._env["PASSWORD"]

    @property
    def ca_file(self) -> str:
        """The self-signed CA that signed the broker's certificate."""
        return self._env["CA_FILE"]

    @property
    def node(self) -> str:
        """The Erlang node name, qscaler-test-<random>@localhost."""
        return self._env["NODE"]

    @property
    def ports(self) -> dict[str, int]:
        """Every port the node (and its epmd) listens on, by listener."""
        return {
            key.removesuffix("_PORT").lower(): int(value)
            for key, value in self._env.items()
            if key.endswith("_PORT")
        }

    @property
    def pids(self) -> dict[str, int]:
        """The processes up.sh started: server wrapper, Erlang VM, epmd."""
        keys = {"server": "PID", "beam": "BEAM_PID", "epmd": "EPMD_PID"}
        return {name: int(self._env[key]) for name, key in keys.items() if self._env.get(key)}

    @property
    def stream_port(self) -> int:
        """The stream protocol port (rabbitmq_stream), on 127.0.0.1."""
        return int(self._env["STREAM_PORT"])

    @property
    def metrics_collector(self) -> bool:
        """False for a node started with the management statistics off."""
        return self._env.get("METRICS_COLLECTOR", "on") == "on"

    @property
    def prometheus_url(self) -> str:
        """The Prometheus plugin's endpoint."""
        return self._env["PROMETHEUS_URL"]

    @property
    def ready_seconds(self) -> float:
        """How long up.sh waited for the management API."""
        return float(self._env.get("READY_SECONDS") or "nan")

    def logs(self, lines: int = 60) -> str:
        """The tail of the node's log, for failure reports."""
        if self.workdir is None:
            return ""
        log = self.workdir / "log" / f"{self._env.get('NODE', '')}.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    # --- management API ----------------------------------------------------------

    @property
    def api(self) -> httpx.Client:
        """An admin client for the management API."""
        if self._api is None:
            self._api = httpx.Client(
                base_url=self.mgmt_url, auth=(self.user, self.password), timeout=30.0
            )
        return self._api

    def create_vhost(self, vhost: str, *, user: str | None = None) -> None:
        """Create `vhost` and give `user` (default: the admin) full permissions."""
        self.api.put(f"/api/vhosts/{_seg(vhost)}").raise_for_status()
        self.grant(vhost, user or self.user)

    def grant(self, vhost: str, user: str, configure: str = ".*", rw: str = ".*") -> None:
        """Set `user`'s permissions on `vhost`."""
        body = {"configure": configure, "write": rw, "read": rw}
        self.api.put(f"/api/permissions/{_seg(vhost)}/{_seg(user)}", json=body).raise_for_status()

    def delete_vhost(self, vhost: str) -> None:
        """Delete `vhost` and everything in it (no error if it is gone)."""
        response = self.api.delete(f"/api/vhosts/{_seg(vhost)}")
        if response.status_code != 404:
            response.raise_for_status()

    def create_user(self, user: str, password: str, tags: str = "") -> None:
        """Create (or update) a user."""
        body = {"password": password, "tags": tags}
        self.api.put(f"/api/users/{_seg(user)}", json=body).raise_for_status()

    def delete_user(self, user: str) -> None:
        """Delete a user (no error if it is gone)."""
        response = self.api.delete(f"/api/users/{_seg(user)}")
        if response.status_code != 404:
            response.raise_for_status()

    def queue(self, vhost: str, name: str, columns: str = "") -> dict[str, Any] | None:
        """The management API's view of one queue, None when it does not exist."""
        params = {"columns": columns} if columns else {}
        response = self.api.get(f"/api/queues/{_seg(vhost)}/{_seg(name)}", params=params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    def close_connections(self, connection_name: str) -> int:
        """Force-close every connection whose client named itself `connection_name`."""
        listed = self.api.get(
            "/api/connections", params={"columns": "name,client_properties.connection_name"}
        ).json()
        closed = 0
        for conn in listed:
            if conn.get("client_properties", {}).get("connection_name") == connection_name:
                self.api.delete(f"/api/connections/{_seg(conn['name'])}").raise_for_status()
                closed += 1
        return closed

    # --- AMQP ------------------------------------------------------------------------

    def connect(self, vhost: str) -> Any:
        """A pika BlockingConnection to `vhost` as the admin."""
        return pika.BlockingConnection(
            pika.ConnectionParameters(
                host="127.0.0.1",
                port=self.amqp_port,
                virtual_host=vhost,
                credentials=pika.PlainCredentials(self.user, self.password),
                connection_attempts=1,
                client_properties={"connection_name": "qscaler-test-harness"},
            )
        )

    @contextlib.contextmanager
    def channel(self, vhost: str) -> Iterator[Any]:
        """A channel on a short-lived connection."""
        connection = self.connect(vhost)
        try:
            yield connection.channel()
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()

    def declare_queues(
        self, vhost: str, *names: str, durable: bool = False, queue_type: str = "classic"
    ) -> None:
        """Declare queues over AMQP (any name): classic, or quorum/stream (durable)."""
        args = None if queue_type == "classic" else {"x-queue-type": queue_type}
        with self.channel(vhost) as ch:
            for name in names:
                ch.queue_declare(name, durable=durable or args is not None, arguments=args)

    def delete_queues(self, vhost: str, *names: str) -> None:
        """Delete queues over AMQP."""
        with self.channel(vhost) as ch:
            for name in names:
                ch.queue_delete(name)

    def publish(
        self, vhost: str, queue: str, count: int, *, persistent: bool = False, atomic: bool = False
    ) -> None:
        """Publish `count` small messages to `queue` through the default exchange.

        `atomic`: in one AMQP transaction, so that all of them are routed or
        none. It does not make the count atomic to readers: another channel's
        passive declare can see part of them while the queue enqueues (seen on
        4.0.5), so a test may rely on "some arrived", not on the whole count."""
        props = pika.BasicProperties(delivery_mode=2 if persistent else 1)
        with self.channel(vhost) as ch:
            if atomic:
                ch.tx_select()
            else:
                ch.confirm_delivery()
            for i in range(count):
                ch.basic_publish("", queue, str(i).encode(), props, mandatory=True)
            if atomic:
                ch.tx_commit()

    def publish_settled(self, vhost: str, queue: str, count: int, timeout: float = 60.0) -> None:
        """Publish `count` messages to an empty queue and wait until the broker counts them all.

        The broker samples its queue statistics every second while the
        messages arrive one confirm at a time, so a qscaler already running may
        read part of the count and rise in two steps (1 → 2 → 3), which is right
        but not the one write a test counts. Published this way before qscaler
        starts, the count is read whole."""
        self.publish(vhost, queue, count)
        deadline = time.monotonic() + timeout
        while (self.queue(vhost, queue) or {}).get("messages") != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the broker did not count {count} messages in {queue}")
            time.sleep(0.2)

    def purge(self, vhost: str, queue: str) -> int:
        """Empty `queue` in one operation; returns how many messages it held.

        Unlike `consume`, no statistics sample can see the queue half drained."""
        with self.channel(vhost) as ch:
            count: int = ch.queue_purge(queue).method.message_count
        return count

    def consume(self, vhost: str, queue: str, count: int) -> int:
        """Get and ack up to `count` messages; returns how many there were."""
        got = 0
        with self.channel(vhost) as ch:
            for _ in range(count):
                method, _props, _body = ch.basic_get(queue, auto_ack=False)
                if method is None:
                    break
                ch.basic_ack(method.delivery_tag)
                got += 1
        return got

    def hold(self, vhost: str, queue: str, count: int, timeout: float = 30.0) -> Holder:
        """Start a consumer that receives `count` messages and never acks them.

        The consumer stays registered (the queue shows consumers=1 and
        `count` unacknowledged) until `Holder.close()`.
        """
        connection = self.connect(vhost)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=count)
        holder = Holder(connection, channel)
        channel.basic_consume(
            queue, lambda _ch, method, _p, _b: holder.received.append(method.delivery_tag)
        )
        deadline = time.monotonic() + timeout
        while len(holder.received) < count and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        if len(holder.received) < count:
            holder.close()
            raise AssertionError(f"only {len(holder.received)} of {count} messages delivered")
        return holder


def _seg(value: str) -> str:
    return quote(value, safe="")
