"""The order in which to hand a workload from KEDA to qscaler, and what to keep.

KEDA creates an HPA (`keda-hpa-<name>`, or the name in
`advanced.horizontalPodAutoscalerConfig`) owned by the ScaledObject, so
deleting the ScaledObject deletes that HPA too. Two autoscalers must never
write at once (qscaler would raise the floor of KEDA's HPA and KEDA would put
it back), hence: qscaler in dry-run first, then KEDA out, then any CPU HPA
back, then qscaler active.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qscaler.core import annotations as ann
from qscaler.core.defaults import MIN_REPLICAS
from qscaler.importer.keda_objects import mapping, name_of

if TYPE_CHECKING:
    from qscaler.importer.keda_map import Conversion

TRANSFER_OWNERSHIP = "scaledobject.keda.sh/transfer-hpa-ownership"


def removal_plan(so: Mapping[str, Any], out: Conversion) -> list[str]:
    """Numbered steps for this ScaledObject."""
    spec = mapping(so.get("spec"))
    annotations = mapping(mapping(so.get("metadata")).get("annotations"))
    hpa_name = str(
        mapping(mapping(spec.get("advanced")).get("horizontalPodAutoscalerConfig")).get("name")
        or f"keda-hpa-{name_of(so)}"
    )
    ns = f"-n {shlex.quote(out.namespace)} " if out.namespace else ""
    target = f"{out.kind.lower()}/{out.name}"
    adopted = str(annotations.get(TRANSFER_OWNERSHIP, "")).lower() == "true"
    cpu = [
        mapping(t)
        for t in spec.get("triggers") or []
        if mapping(t).get("type") in ("cpu", "memory")
    ]
    paused = out.annotations.get(ann.MODE) == "paused"
    steps = [
        "apply the annotations above (mode paused: qscaler holds the count, as KEDA did)"
        if paused
        else f"apply the annotations above together with {ann.MODE}=dry-run: qscaler "
        f"decides and reports (`qscaler status`, Events on {target}) while KEDA still scales"
    ]
    if mapping(spec.get("advanced")).get("restoreToOriginalReplicaCount") is True:
        steps.append(
            "set spec.advanced.restoreToOriginalReplicaCount to false first, or KEDA scales the "
            "workload back to its original count when the ScaledObject is deleted"
        )
    if adopted:
        steps.append(
            f"KEDA adopted your HPA {hpa_name} ({TRANSFER_OWNERSHIP}) and rewrote its spec. "
            f"Check its owner: kubectl {ns}get hpa {hpa_name} -o "
            "jsonpath='{.metadata.ownerReferences[*].kind}'. If it names ScaledObject, delete "
            f"with --cascade=orphan to keep it: kubectl {ns}delete scaledobject {name_of(so)} "
            f"--cascade=orphan; then re-apply your own CPU HPA manifest to {hpa_name} (its "
            "metrics still name KEDA's external metric, which no longer answers)"
        )
    else:
        steps.append(
            f"kubectl {ns}delete scaledobject {name_of(so)}: KEDA's HPA {hpa_name} is owned by "
            "the ScaledObject and is deleted with it; the workload keeps its replica count"
        )
    if cpu and not adopted:
        steps.append(
            f"at once, re-create the {'/'.join(str(t.get('type')) for t in cpu)} scaling as a "
            f"plain autoscaling/v2 HPA on {target} (min {max(1, _min(out))}, max "
            f"{out.annotations.get(ann.MAX_REPLICAS)}, the trigger's target): qscaler "
            "then raises that HPA's minReplicas by queue depth instead of writing replicas"
        )
    elif not adopted:
        steps.append(
            "if the workload has a CPU HPA of its own, keep it: qscaler raises its "
            "minReplicas by queue depth and restores it when the queue is quiet"
        )
    steps.append(
        f"kubectl {ns}annotate {target} {ann.MODE}-: qscaler scales from its next poll"
        + (" (when you want it to: KEDA had this workload paused)" if paused else "")
    )
    return [f"{n}. {step}" for n, step in enumerate(steps, start=1)]


def _min(out: Conversion) -> int:
    return int(out.annotations.get(ann.MIN_REPLICAS, MIN_REPLICAS))
