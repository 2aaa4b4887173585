"""Read KEDA objects from YAML as `kubectl get -o yaml` or a repository holds them.

Accepts one document, a multi-document stream, and `kind: List` (what
`kubectl get scaledobject -o yaml` prints), in any mix. ScaledObjects and the
(Cluster)TriggerAuthentications they may reference are kept; every other
object is only counted, so a whole application's manifests can be piped in.
YAML that cannot be parsed, or a document that is not a Kubernetes object, is
a `ConfigError` naming where: the command prints that one line and exits 2.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from qscaler.errors import ConfigError

KEDA_API_GROUP = "keda.sh/"
AUTH_KINDS = ("TriggerAuthentication", "ClusterTriggerAuthentication")

Object = Mapping[str, Any]
#: libyaml's safe loader when PyYAML has it: the same documents, 20 times faster.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class KedaObjects:
    """What the input held: ScaledObjects, authentications by (kind, namespace,
    name), ScaledJobs (not convertible) and how many other objects were skipped."""

    scaled_objects: tuple[Object, ...] = ()
    auths: Mapping[tuple[str, str, str], Object] = field(default_factory=dict)
    scaled_jobs: tuple[str, ...] = ()
    others: int = 0

    def auth(self, kind: str, namespace: str, name: str) -> Object | None:
        """The referenced authentication; a cluster-scoped one has no namespace."""
        key = (kind, "" if kind == "ClusterTriggerAuthentication" else namespace, name)
        return self.auths.get(key)


def load_objects(text: str, origin: str) -> KedaObjects:
    """Every KEDA object in `text` (read from `origin`, named in errors)."""
    scaled: list[Object] = []
    auths: dict[tuple[str, str, str], Object] = {}
    jobs: list[str] = []
    others = 0
    for obj in _objects(_documents(text, origin), origin):
        kind, keda = obj.get("kind"), str(obj.get("apiVersion", "")).startswith(KEDA_API_GROUP)
        if keda and kind == "ScaledObject":
            scaled.append(obj)
        elif keda and kind in AUTH_KINDS:
            namespace = "" if kind == "ClusterTriggerAuthentication" else namespace_of(obj)
            auths[(str(kind), namespace, name_of(obj))] = obj
        elif keda and kind == "ScaledJob":
            jobs.append(f"{namespace_of(obj) or '-'}/{name_of(obj)}")
        else:
            others += 1
    return KedaObjects(tuple(scaled), auths, tuple(jobs), others)


def name_of(obj: Object) -> str:
    """metadata.name, or "?" when the object has none."""
    return str(mapping(obj.get("metadata")).get("name") or "?")


def namespace_of(obj: Object) -> str:
    """metadata.namespace, or "" when the object does not say."""
    return str(mapping(obj.get("metadata")).get("namespace") or "")


def mapping(value: object) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one (absent sections read as empty)."""
    return value if isinstance(value, Mapping) else {}


class SpecProblem(ValueError):
    """A ScaledObject field KEDA itself would refuse (a count that is not a number,
    triggers that are not a list): only that object is not converted, and the
    message names the field, so one bad object never stops the others."""


def count(value: object, field_name: str) -> int:
    """A replica count: a whole number ≥ 0 (YAML int, or a string of one)."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
        if text.isdigit():
            return int(text)
    raise SpecProblem(f"{field_name} {value!r} is not a whole number ≥ 0")


def amount(value: object, field_name: str) -> float:
    """Seconds or a policy's value: a finite number ≥ 0 (YAML number, or a string of one)."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if 0 <= number < float("inf"):
            return number
    raise SpecProblem(f"{field_name} {value!r} is not a number ≥ 0")


def _documents(text: str, origin: str) -> list[object]:
    try:
        return [d for d in yaml.load_all(text, Loader=_SAFE_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{origin}: not valid YAML{where}: {problem}") from None


def _objects(documents: list[object], origin: str) -> Iterator[Object]:
    for number, document in enumerate(documents, start=1):
        if not isinstance(document, Mapping) or not isinstance(document.get("kind"), str):
            raise ConfigError(
                f"{origin}: document {number} is not a Kubernetes object (a mapping with a kind)"
            )
        if document["kind"] == "List" or document["kind"].endswith("List"):
            items = document.get("items") or []
            if not isinstance(items, list):
                raise ConfigError(f"{origin}: document {number}: items of a List must be a list")
            yield from _objects(items, f"{origin} (List in document {number})")
        else:
            yield document
