"""The RabbitMQ brokers qscaler reads: the default one, and those of a brokers file.

Platform teams rarely have one broker. A workload names its broker with
`qscaler.io/broker`; without it, it reads the `default` broker, which the
`QSCALER_*` settings describe exactly as before. More brokers are declared in
a YAML file (a mounted ConfigMap) named by `QSCALER_BROKERS_FILE`::

    brokers:
      - name: payments                       # what qscaler.io/broker names
        source: management                   # management (default), amqp or prometheus
        managementUrl: https://rabbit-payments.rabbitmq.svc:15671
        amqpUrl: amqps://rabbit-payments.rabbitmq.svc:5671   # optional: the activation probe
        usernameFile: /etc/qscaler/brokers/payments/username
        passwordFile: /etc/qscaler/brokers/payments/password
        tlsCaFile: /etc/qscaler/brokers/payments/ca.crt      # optional
        # source prometheus: prometheusUrls, or prometheusDnsName (with optional
        # prometheusPort and prometheusScheme), else the management API lists the nodes

The file holds no secret: credentials are paths of mounted Secret files,
re-read when the broker refuses them (a rotated password is picked up
without a restart), like `QSCALER_PASSWORD_FILE`. An entry named `default`
replaces the settings' broker. Timeouts, page size and probe cadence stay
process-wide. Any problem in the file is a `SettingsError` at start-up, one
line naming the entry and the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.errors import SettingsError
from qscaler.settings import Settings, parseable_url, read_secret

SourceKind = Literal["management", "amqp", "prometheus"]
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
#: Keys that would put a secret in the file; the message says what to use instead.
_SECRET_KEYS = {"password": "passwordFile", "username": "usernameFile", "url": "managementUrl"}


@dataclass(frozen=True, slots=True)
class Broker:
    """Where one broker is and how to log in: what a source is built from.

    Its attribute names are the settings' own, so a source reads a `Broker`
    the same way whether it came from the environment or the brokers file.
    """

    name: str
    source: SourceKind
    management_url: str
    amqp_url: str | None  # None: no AMQP, so no activation probe
    prometheus_urls: tuple[str, ...]  # else found by prometheus_dns_name or the management API
    prometheus_dns_name: str
    prometheus_port: int
    prometheus_scheme: Literal["http", "https"]
    prometheus_max_bytes: int
    credentials: Callable[[], tuple[str, str]]
    from_files: bool  # credentials come from files, so re-reading them can find new ones
    tls_ca_file: Path | None
    tls_verify: bool
    request_timeout_seconds: float
    management_page_size: int
    poll_interval_seconds: float

    def rabbitmq_username(self) -> str:
        """The username (read from its file now, when it has one)."""
        return self.credentials()[0]

    def rabbitmq_password(self) -> str:
        """The password (read from its file now, when it has one)."""
        return self.credentials()[1]

    def credentials_reader(self) -> Callable[[], tuple[str, str]] | None:
        """Reads the credentials again after a refused login; None when they
        cannot change under a running process (environment variables)."""
        return self.credentials if self.from_files else None


class _Entry(BaseModel):
    """One entry of the brokers file, as written (camelCase, like Kubernetes)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    name: str
    source: SourceKind = "management"
    management_url: str | None = None
    amqp_url: str | None = None
    prometheus_urls: tuple[str, ...] = ()
    prometheus_dns_name: str = ""
    prometheus_port: int | None = Field(None, ge=1, le=65535)
    prometheus_scheme: Literal["http", "https"] | None = None
    username_file: Path
    password_file: Path
    tls_ca_file: Path | None = None
    tls_verify: bool = True

    @field_validator("management_url", "amqp_url")
    @classmethod
    def _parseable_url(cls, value: str | None) -> str | None:
        return None if value is None else parseable_url(value)

    @field_validator("prometheus_urls")
    @classmethod
    def _parseable_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(parseable_url(url) for url in value)

    @model_validator(mode="after")
    def _urls_for_the_source(self) -> _Entry:
        if not _NAME.fullmatch(self.name):
            raise ValueError("name must be lower-case letters, digits and '-' (at most 63)")
        needed = {
            "management": ("managementUrl", self.management_url),
            "amqp": ("amqpUrl", self.amqp_url),
            "prometheus": (
                "prometheusUrls, prometheusDnsName or managementUrl (to list the nodes)",
                self.prometheus_urls or self.prometheus_dns_name or self.management_url,
            ),
        }[self.source]
        if not needed[1]:
            raise ValueError(f"source {self.source} needs {needed[0]}")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    brokers: list[dict[str, Any]] = Field(default_factory=list)


def default_broker(settings: Settings) -> Broker:
    """The broker the `QSCALER_*` settings describe (today's single broker)."""
    return Broker(
        name=DEFAULT_BROKER,
        source=settings.source,
        management_url=settings.management_url,
        amqp_url=settings.amqp_url if settings.amqp_url_given() else None,
        prometheus_urls=tuple(settings.prometheus_urls),
        prometheus_dns_name=settings.prometheus_dns_name,
        prometheus_port=settings.prometheus_port,
        prometheus_scheme=settings.prometheus_scheme,
        prometheus_max_bytes=settings.prometheus_max_bytes,
        credentials=lambda: (settings.rabbitmq_username(), settings.rabbitmq_password()),
        from_files=settings.credentials_reader() is not None,
        tls_ca_file=settings.tls_ca_file,
        tls_verify=settings.tls_verify,
        request_timeout_seconds=settings.request_timeout_seconds,
        management_page_size=settings.management_page_size,
        poll_interval_seconds=settings.poll_interval_seconds,
    )


def load_brokers(settings: Settings) -> dict[str, Broker]:
    """Every broker by name: the default, then the brokers file's (which may
    replace it). A `SettingsError` names the file, the entry and the problem."""
    brokers = {DEFAULT_BROKER: default_broker(settings)}
    path = settings.brokers_file
    if path is None:
        return brokers
    seen: set[str] = set()
    for number, raw in enumerate(_entries(path), start=1):
        entry = _entry(path, number, raw)
        if entry.name in seen:
            raise SettingsError(f"brokers file {path}: broker {entry.name} is declared twice")
        seen.add(entry.name)
        brokers[entry.name] = _broker(entry, settings)
    return brokers


def _entries(path: Path) -> list[dict[str, Any]]:
    where = f"QSCALER_BROKERS_FILE {path}"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read ({exc.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if document is None:  # as `brokers:` with nothing under it, which is refused below
        raise SettingsError(f"{where}: is empty; list the brokers under `brokers:`")
    try:
        return _File.model_validate(document).brokers
    except ValidationError:
        raise SettingsError(
            f"{where}: must be a mapping with a list `brokers:` of mappings"
        ) from None


def _entry(path: Path, number: int, raw: dict[str, Any]) -> _Entry:
    label = f"brokers file {path}: entry {number} ({raw.get('name', 'no name')})"
    for key, instead in _SECRET_KEYS.items():
        if key in raw:
            raise SettingsError(
                f"{label}: {key} does not belong in the file; use {instead}"
                + (" (a path to a mounted Secret file)" if instead.endswith("File") else "")
            )
    try:
        return _Entry.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "") + e["msg"]
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise SettingsError(f"{label}: " + "; ".join(problems)) from None


def _broker(entry: _Entry, settings: Settings) -> Broker:
    username_file, password_file = entry.username_file, entry.password_file

    def credentials() -> tuple[str, str]:
        return (
            read_secret(username_file, f"brokers file {entry.name} usernameFile"),
            read_secret(password_file, f"brokers file {entry.name} passwordFile"),
        )

    return Broker(
        name=entry.name,
        source=entry.source,
        management_url=entry.management_url or "",
        amqp_url=entry.amqp_url,
        prometheus_urls=entry.prometheus_urls,
        prometheus_dns_name=entry.prometheus_dns_name,
        prometheus_port=entry.prometheus_port or settings.prometheus_port,
        prometheus_scheme=entry.prometheus_scheme or settings.prometheus_scheme,
        prometheus_max_bytes=settings.prometheus_max_bytes,
        credentials=credentials,
        from_files=True,
        tls_ca_file=entry.tls_ca_file,
        tls_verify=entry.tls_verify,
        request_timeout_seconds=settings.request_timeout_seconds,
        management_page_size=settings.management_page_size,
        poll_interval_seconds=settings.poll_interval_seconds,
    )
