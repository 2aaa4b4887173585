"""Which broker each converted workload reads, when the ScaledObjects read several.

KEDA names a host per trigger; qscaler names a broker per workload
(`qscaler.io/broker`), declared in the brokers file. The host most
ScaledObjects read becomes the default broker (no annotation, the
`QSCALER_*` settings); every other host gets a broker name made from its
host name (or from the Secret or variable it lives in) and an entry in a
brokers-file skeleton that the report prints, with credential file paths to
mount — never credentials.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import yaml

from qscaler.core.annotations import BROKER
from qscaler.core.defaults import DEFAULT_BROKER
from qscaler.importer.keda_map import Conversion, check


def assign_brokers(conversions: Sequence[Conversion]) -> dict[str, str]:
    """Name the non-default brokers (by where they are) and annotate their workloads."""
    counts = Counter(c.where for c in conversions if c.error is None)
    if len(counts) <= 1:
        return {}
    default = counts.most_common(1)[0][0]
    names: dict[str, str] = {}
    for where in counts:
        if where != default:
            names[where] = _unique(_name(where), {DEFAULT_BROKER, *names.values()})
    known = (DEFAULT_BROKER, *names.values())
    for c in conversions:
        if c.error is None and c.where in names:
            c.annotations[BROKER] = names[c.where]
            c.carried.append(
                f"broker {names[c.where]}: its triggers read {c.where}, while most read "
                f"{default} (the default broker); declare it in the brokers file below"
            )
            c.lost[:] = [_for_named(line, names[c.where]) for line in c.lost]
            check(c, known)
    return names


_SETTING_TO_ENTRY = {
    "QSCALER_MANAGEMENT_URL (or QSCALER_AMQP_URL)": "managementUrl (or amqpUrl)",
    "QSCALER_USERNAME_FILE": "usernameFile",
    "QSCALER_PASSWORD_FILE": "passwordFile",
    "QSCALER_TLS_CA_FILE": "tlsCaFile",
    "QSCALER_USERNAME_FILE/QSCALER_PASSWORD_FILE": "usernameFile/passwordFile",
}


def _for_named(line: str, name: str) -> str:
    """A hint about the default broker's settings, turned to the named broker's entry."""
    for setting, key in sorted(_SETTING_TO_ENTRY.items(), key=lambda kv: -len(kv[0])):
        if setting in line:
            return line.replace(setting, f"{key} of broker {name}")
    return line


def brokers_file(names: Mapping[str, str], conversions: Sequence[Conversion]) -> str:
    """A brokers-file skeleton for the named brokers (URLs where the input shows them)."""
    hosts = {c.where: c.host for c in conversions if c.host}
    entries = [_entry(name, where, hosts.get(where)) for where, name in names.items()]
    return yaml.safe_dump({"brokers": entries}, sort_keys=False)


def _entry(name: str, where: str, host: str | None) -> dict[str, str]:
    entry = {"name": name}
    if host is not None and host.startswith("amqp"):
        entry.update(source="amqp", amqpUrl=host)
    else:
        entry["managementUrl"] = host or f"<the management URL in {where}>"
    entry["usernameFile"] = f"/etc/qscaler/rabbitmq-{name}/username"
    entry["passwordFile"] = f"/etc/qscaler/rabbitmq-{name}/password"
    return entry


def _name(where: str) -> str:
    host = urlsplit(where).hostname if "://" in where else None
    base = host.split(".")[0] if host else where.split()[1] if " " in where else where
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:50]
    return slug or "broker"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate
