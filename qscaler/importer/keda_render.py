"""Print conversions: kubectl commands, kustomize patches, and the report around them.

Three outputs from the same `Conversion`s: `report` (the default: for each
target, the commands, the patch, what was carried over and how, what was not
and why, the removal plan), `kubectl` (only the commands, a shell script) and
`kustomize` (only the patches, one YAML document per target, for a
`patches:` entry). Values are shell-quoted and YAML-quoted by the libraries,
never by hand.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from qscaler.core.annotations import ENABLED_LABEL
from qscaler.importer.keda_brokers import brokers_file
from qscaler.importer.keda_map import Conversion
from qscaler.importer.keda_objects import KedaObjects

_API_VERSION = "apps/v1"


def kubectl_commands(c: Conversion) -> list[str]:
    """`kubectl label` and `kubectl annotate` for one target."""
    ns = ["-n", c.namespace] if c.namespace else []
    target = f"{c.kind.lower()}/{c.name}"
    label = ["kubectl", *ns, "label", "--overwrite", target, f"{ENABLED_LABEL}=true"]
    annotate = ["kubectl", *ns, "annotate", "--overwrite", target]
    pairs = [f"{k}={v}" for k, v in sorted(c.annotations.items())]
    lines = [shlex.join(label), shlex.join(annotate) + " \\"]
    lines += [f"  {shlex.quote(p)}" + (" \\" if i < len(pairs) - 1 else "") for i, p in
              enumerate(pairs)]  # fmt: skip
    return lines


def kustomize_patch(c: Conversion) -> dict[str, Any]:
    """A strategic-merge patch adding the label and annotations to one target."""
    metadata: dict[str, Any] = {"name": c.name}
    if c.namespace:
        metadata["namespace"] = c.namespace
    metadata["labels"] = {ENABLED_LABEL: "true"}
    metadata["annotations"] = dict(sorted(c.annotations.items()))
    return {"apiVersion": _API_VERSION, "kind": c.kind, "metadata": metadata}


def patches_yaml(conversions: Sequence[Conversion]) -> str:
    """Every convertible target's patch, as one YAML stream."""
    docs = [kustomize_patch(c) for c in conversions if c.error is None]
    return yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)


def script(conversions: Sequence[Conversion]) -> str:
    """Every convertible target's kubectl commands."""
    blocks = [
        f"# ScaledObject {c.scaled_object}\n" + "\n".join(kubectl_commands(c))
        for c in conversions
        if c.error is None
    ]
    return "\n".join(blocks) + "\n"


def report(
    conversions: Sequence[Conversion], objects: KedaObjects, brokers: Mapping[str, str]
) -> str:
    """The full report: one section per ScaledObject, the brokers file for the
    brokers beyond the default one (`brokers`: where → name), what was skipped."""
    parts = [_section(c) for c in conversions]
    if brokers:
        parts.append(
            "# brokers file (QSCALER_BROKERS_FILE) for the brokers beyond the default one\n"
            + brokers_file(brokers, conversions).rstrip()
        )
    tail = [f"ScaledJob {job}: not converted (qscaler scales Deployments and StatefulSets)"
            for job in objects.scaled_jobs]  # fmt: skip
    if objects.others:
        tail.append(f"{objects.others} other object(s) in the input were not KEDA objects")
    return "\n\n".join(parts + (["\n".join(tail)] if tail else [])) + "\n"


def _section(c: Conversion) -> str:
    head = f"=== ScaledObject {c.scaled_object} → {c.kind} {c.name}"
    if c.error is not None:
        return f"{head}\nnot converted: {c.error}" + _listed("not carried over", c.lost)
    patch = yaml.safe_dump(kustomize_patch(c), sort_keys=False).rstrip()
    return (
        f"{head}\n\n# kubectl\n" + "\n".join(kubectl_commands(c))
        + f"\n\n# kustomize patch (a `patches:` entry)\n{patch}"
        + _listed("carried over", c.carried)
        + _listed("not carried over", c.lost)
        + _listed("removal plan", c.removal, bullet="")
    )  # fmt: skip


def _listed(title: str, lines: Sequence[str], bullet: str = "- ") -> str:
    if not lines:
        return ""
    return f"\n\n# {title}\n" + "\n".join(f"{bullet}{line}" for line in lines)
