"""Plan the writes that carry a decision into the cluster, without making them.

Two ways to act, chosen by whether an HPA targets the workload:

* **No HPA**: qscaler owns the replica count and writes `spec.replicas` through
  the scale subresource, only when it differs.
* **An HPA targets it**: writing `spec.replicas` would start a fight (the HPA
  undoes it within one sync). qscaler raises the HPA's *floor* instead:
  `minReplicas = clamp(max(original floor, queue demand), .., maxReplicas)`,
  so the HPA applies max(CPU demand, queue demand). The original floor is
  remembered on the HPA and restored when the demand falls back. Scale to zero
  is the one case where qscaler writes replicas under an HPA: at 0 replicas
  the HPA parks itself, and qscaler brings the workload back on activation.

Someone may edit minReplicas while qscaler holds it (by hand, or a GitOps
sync). qscaler records the floor it wrote, so it can tell: a minReplicas that
differs from it is the owner's new choice and becomes the original — never
overwritten by an old remembered value, never lost when the floor is given back.

Pure arithmetic, so the edge adapters stay thin and the rules are table-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qscaler.core.workload import Hpa, Workload, WorkloadRef
from qscaler.errors import BindingError


@dataclass(frozen=True, slots=True)
class Plan:
    """Writes to make, and the count they amount to (`applied`).

    `desired` is the decision the plan carries out (so a write that meets a
    conflict can be planned again from a fresh read).
    `replicas`: write the workload's spec.replicas. `hpa_floor`: set the HPA's
    minReplicas, recording `hpa_original` on it. `restore_hpa`: put the HPA's
    original minReplicas back and forget it. `capped_by_hpa`: the HPA's
    maxReplicas is below what the queue asks for.
    """

    applied: int
    desired: int = 0
    replicas: int | None = None
    hpa_floor: int | None = None
    hpa_original: int | None = None
    restore_hpa: bool = False
    capped_by_hpa: bool = False

    @property
    def writes(self) -> bool:
        """True when the plan changes anything in the cluster."""
        return self.replicas is not None or self.hpa_floor is not None or self.restore_hpa


def held_count(workload: Workload, hpa: Hpa | None) -> int:
    """The count qscaler currently holds the workload at: decide()'s `current`.

    Without an HPA it is spec.replicas. With one it is the HPA's floor (the
    HPA may run more replicas for CPU; that is its business), or 0 when the
    workload is parked at zero.
    """
    if hpa is None or workload.replicas == 0:
        return workload.replicas
    return hpa.min_replicas


def baseline(hpa: Hpa) -> int:
    """The floor the HPA's owner chose: what qscaler raises from and restores.

    It is the remembered original while minReplicas is still the floor qscaler
    wrote; once someone has set minReplicas to anything else, their value is
    the baseline (an HPA raised by a qscaler that did not record its floor
    keeps the remembered original).
    """
    if hpa.original_min is None:
        return hpa.min_replicas
    if hpa.raised_min is not None and hpa.min_replicas != hpa.raised_min:
        return hpa.min_replicas
    return hpa.original_min


def plan(desired: int, workload: Workload, hpa: Hpa | None) -> Plan:
    """The writes that hold `workload` at `desired`."""
    if hpa is None:
        changed = desired != workload.replicas
        return Plan(applied=desired, desired=desired, replicas=desired if changed else None)
    original = baseline(hpa)
    if desired == 0:
        return Plan(
            applied=0,
            desired=0,
            replicas=0 if workload.replicas != 0 else None,
            restore_hpa=hpa.original_min is not None,
        )
    floor = min(max(original, desired), hpa.max_replicas)
    wake = floor if workload.replicas == 0 else None
    capped = desired > hpa.max_replicas
    if floor > original:
        unchanged = (hpa.min_replicas, hpa.original_min, hpa.raised_min) == (
            floor,
            original,
            floor,
        )
        return Plan(
            applied=floor,
            desired=desired,
            replicas=wake,
            hpa_floor=None if unchanged else floor,
            hpa_original=original,
            capped_by_hpa=capped,
        )
    return Plan(
        applied=floor,
        desired=desired,
        replicas=wake,
        restore_hpa=hpa.original_min is not None,
        capped_by_hpa=capped,
    )


def plan_release(hpa: Hpa) -> Plan | None:
    """Give an HPA its floor back when its workload no longer opts in."""
    if hpa.original_min is None:
        return None
    original = baseline(hpa)
    return Plan(applied=original, desired=original, restore_hpa=True)


def hpas_by_target(
    hpas: Sequence[Hpa],
) -> tuple[dict[WorkloadRef, Hpa], dict[WorkloadRef, BindingError]]:
    """The HPA of each workload, and an error for each workload several target.

    With several, the first by name is still returned (its floor is restored
    if the workload opts out), but the workload is held: the HPA controller
    scales none of them (`AmbiguousSelector` on every one), so a raised floor
    would change nothing. qscaler says so on the workload and leaves it alone
    until one HPA is left.
    """
    by_target: dict[WorkloadRef, Hpa] = {}
    names: dict[WorkloadRef, list[str]] = {}
    for hpa in sorted(hpas, key=lambda h: (h.namespace, h.name)):
        by_target.setdefault(hpa.target, hpa)
        names.setdefault(hpa.target, []).append(hpa.name)
    ambiguous = {
        ref: BindingError(
            [
                f"HPAs {', '.join(found)} all target this {ref.kind}: the HPA controller "
                "scales none of them (AmbiguousSelector), so qscaler holds it until only "
                "one is left"
            ]
        )
        for ref, found in names.items()
        if len(found) > 1
    }
    return by_target, ambiguous
