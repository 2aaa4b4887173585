"""The process configuration: one class, read from `QSCALER_*` variables.

Per-workload policy lives in annotations (`qscaler.core.binding`); this is only
what the process itself needs: where RabbitMQ is, how to authenticate, how
often to poll, what to watch, where to serve metrics. Secrets can come from
files (`QSCALER_PASSWORD_FILE`, or files named after the variables in
`QSCALER_SECRETS_DIR`), which is how a Kubernetes Secret is mounted. A bad
value is a `SettingsError` at start-up: the one configuration error that is
fatal.
"""

from __future__ import annotations

import difflib
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qscaler.core import defaults
from qscaler.core.annotations import ENABLED_LABEL
from qscaler.core.binding import ProcessDefaults
from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.errors import SettingsError

_SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class Settings(BaseSettings):
    """Every process-level knob, with the default a production install wants."""

    model_config = SettingsConfigDict(
        env_prefix="QSCALER_", extra="ignore", validate_default=True, frozen=True
    )

    # --- RabbitMQ ---
    source: Literal["management", "amqp", "prometheus"] = "management"
    management_url: str = "http://localhost:15672"
    amqp_url: str = "amqp://localhost:5672"
    username: str = "guest"
    password: SecretStr = SecretStr("guest")
    username_file: Path | None = None
    password_file: Path | None = None
    tls_ca_file: Path | None = None
    tls_verify: bool = True
    # More brokers, named by workloads' qscaler.io/broker (qscaler.brokers).
    brokers_file: Path | None = None
    request_timeout_seconds: float = Field(5.0, gt=0, le=120)
    # 0: one request per vhost (cheapest for the broker); 1-500: paged listings.
    management_page_size: int = Field(0, ge=0, le=500)
    # The Prometheus source: node URLs, else a DNS name, else the management API's node list.
    prometheus_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    prometheus_dns_name: str = ""
    prometheus_port: int = Field(15692, ge=1, le=65535)
    prometheus_scheme: Literal["http", "https"] = "http"
    prometheus_max_bytes: int = Field(64 * 2**20, ge=1)
    poll_interval_seconds: float = Field(5.0, gt=0, le=3600)
    rate_smoothing_seconds: float = Field(15.0, ge=0, le=3600)
    # Between polls, passive-declare the queues of workloads at 0 (qscaler.probe); 0: off.
    activation_probe_seconds: float = Field(1.0, ge=0, le=3600)
    activation_probe_max_queues: int = Field(1000, ge=1, le=1_000_000)  # per round

    # --- policy defaults (annotations override per workload where they can) ---
    stale_after_seconds: float = Field(defaults.STALE_AFTER_SECONDS, gt=0)
    fallback_after_failures: int = Field(defaults.FALLBACK_AFTER_FAILURES, ge=1)
    default_cooldown_seconds: float = Field(defaults.COOLDOWN_SECONDS, ge=0)  # backlog mode
    # with target-drain-seconds
    default_rate_aware_cooldown_seconds: float = Field(defaults.RATE_AWARE_COOLDOWN_SECONDS, ge=0)

    # --- Kubernetes ---
    kubeconfig: Path | None = None
    kube_context: str | None = None  # a context of the kubeconfig; None: its current one
    label_selector: str = f"{ENABLED_LABEL}=true"
    # Comma-separated in the environment; empty: all namespaces.
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dry_run: bool = False
    leader_election: bool = True
    lease_name: str = "qscaler-leader"
    lease_namespace: str = ""  # empty: the pod's own namespace
    lease_duration_seconds: float = Field(15.0, gt=1)
    renew_deadline_seconds: float = Field(10.0, gt=1)
    retry_period_seconds: float = Field(2.0, gt=0)
    identity: str = Field(default_factory=socket.gethostname)
    event_repeat_seconds: float = Field(300.0, ge=0)
    # What the forecast learned, kept in a ConfigMap beside the Lease (qscaler.kube.forecast_store).
    forecast_store: bool = True
    forecast_store_name: str = "qscaler-forecast"
    forecast_store_seconds: float = Field(60.0, gt=0, le=3600)  # at most one write per this

    # --- serving and logging ---
    metrics_address: str = "0.0.0.0"  # noqa: S104 - a pod serves its metrics on its own IP
    metrics_port: int = Field(8080, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("namespaces", "prometheus_urls", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip()]
        return value

    @field_validator("management_url", "amqp_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        return parseable_url(value)

    @field_validator("prometheus_urls")
    @classmethod
    def _parseable_urls(cls, value: list[str]) -> list[str]:
        return [parseable_url(url) for url in value]

    @model_validator(mode="after")
    def _check_lease_timings(self) -> Settings:
        if (
            not self.lease_duration_seconds
            > self.renew_deadline_seconds
            > self.retry_period_seconds
        ):
            raise ValueError(
                "lease timings must satisfy lease_duration_seconds > renew_deadline_seconds "
                "> retry_period_seconds"
            )
        return self

    def rabbitmq_username(self) -> str:
        """The username, from its file when one is configured."""
        if self.username_file is not None:
            return read_secret(self.username_file, "QSCALER_USERNAME_FILE")
        return self.username

    def rabbitmq_password(self) -> str:
        """The password, from its file when one is configured."""
        if self.password_file is not None:
            return read_secret(self.password_file, "QSCALER_PASSWORD_FILE")
        return self.password.get_secret_value()

    def credentials_reader(self) -> Callable[[], tuple[str, str]] | None:
        """Reads the username and password again, for a source whose login was
        refused: a password rotated in a mounted Secret file is then used
        without a restart. None when neither comes from a file (a process's
        environment cannot change under it)."""
        if self.password_file is None and self.username_file is None:
            return None
        return lambda: (self.rabbitmq_username(), self.rabbitmq_password())

    def activation_probe_interval(self) -> float | None:
        """Seconds between activation probes; None when off.

        The probe speaks AMQP, so it runs only where an AMQP URL was given
        (`QSCALER_AMQP_URL`, or `QSCALER_SOURCE=amqp`): the default URL points
        at localhost, which a management-only install does not have.
        """
        amqp = self.amqp_url_given()
        return self.activation_probe_seconds if amqp and self.activation_probe_seconds else None

    def amqp_url_given(self) -> bool:
        """True when the default broker is to be reached over AMQP at all."""
        return self.source == "amqp" or "amqp_url" in self.model_fields_set

    def process_defaults(self, brokers: tuple[str, ...] = (DEFAULT_BROKER,)) -> ProcessDefaults:
        """The policy knobs that come from settings rather than annotations;
        `brokers` are the names a workload may choose."""
        return ProcessDefaults(
            stale_after_seconds=self.stale_after_seconds,
            fallback_after_failures=self.fallback_after_failures,
            default_cooldown_seconds=self.default_cooldown_seconds,
            default_rate_aware_cooldown_seconds=self.default_rate_aware_cooldown_seconds,
            brokers=brokers,
        )

    def resolved_lease_namespace(self) -> str:
        """Where the Lease lives: the setting, else the pod's namespace, else default."""
        if self.lease_namespace:
            return self.lease_namespace
        if _SA_NAMESPACE_FILE.exists():
            return _SA_NAMESPACE_FILE.read_text().strip()
        return os.environ.get("POD_NAMESPACE", "default")


def parseable_url(url: str) -> str:
    """`url` when it can be split into scheme, host and port; else a ValueError
    that leaves the URL out (an AMQP URL may carry a password). The sources
    check the scheme; this catches what would otherwise fail deep inside
    httpx or urllib with a traceback (`http://[::1`, a port above 65535)."""
    try:
        urlsplit(url).port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    return url


def read_secret(path: Path, name: str) -> str:
    """The stripped content of a mounted Secret file; `name` says whose, in errors."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{name} {path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError:  # a Secret mounted from the wrong key (a keystore, a cert)
        raise SettingsError(f"{name} {path}: cannot read (not UTF-8 text)") from None


#: `QSCALER_*` variables that are not settings but are read elsewhere: by
#: `load_settings` itself, and by the project's own build and test scripts
#: (the test harness's broker and control plane, tool caches).
NOT_SETTINGS = frozenset({"QSCALER_SECRETS_DIR", "QSCALER_HYPOTHESIS_EXAMPLES"})
NOT_SETTINGS_PREFIXES = ("QSCALER_K8S_", "QSCALER_RABBITMQ_", "QSCALER_SKIP_")
NOT_SETTINGS_SUFFIXES = ("_CACHE",)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per `QSCALER_*` variable that no setting reads, with a
    "did you mean" when one is close: `QSCALER_MANAGMENT_URL` would otherwise
    be ignored without a word, and qscaler would poll localhost."""
    known = {f"QSCALER_{name.upper()}" for name in Settings.model_fields}
    warnings = []
    for name in sorted(environ):
        if not name.startswith("QSCALER_") or name in known or _not_a_setting(name):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        hint = f"did you mean {close[0]}?" if close else "see `qscaler run --help`"
        warnings.append(f"{name} is not a qscaler setting and is ignored; {hint}")
    return warnings


def _not_a_setting(name: str) -> bool:
    return (
        name in NOT_SETTINGS
        or name.startswith(NOT_SETTINGS_PREFIXES)
        or name.endswith(NOT_SETTINGS_SUFFIXES)
    )


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one readable SettingsError."""
    options: dict[str, Any] = dict(overrides)
    secrets_dir = os.environ.get("QSCALER_SECRETS_DIR")
    if secrets_dir:
        options["_secrets_dir"] = secrets_dir
    try:
        return Settings(**options)
    except ValidationError as exc:
        problems = [
            f"QSCALER_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            if err["loc"]
            else err["msg"]
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
