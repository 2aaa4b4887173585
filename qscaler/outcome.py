"""What one cycle did to each workload: the values every reporter reads.

Kept apart from the loop so that metrics, Events, logs, /status and the
simulator's charts can read outcomes without depending on the loop itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qscaler.core.actuation import Plan
from qscaler.core.model import Decision, Observation
from qscaler.core.policy import Policy
from qscaler.core.reasons import Hold, Reason
from qscaler.core.workload import Hpa, Workload, WorkloadRef


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything that happened to one workload in one cycle.

    `held` says why a planned write was not made (`Hold.DRY_RUN`, `PAUSED`,
    `NOT_LEADER`); `error` is a binding or write error in words.
    """

    workload: Workload
    hpa: Hpa | None = None
    policy: Policy | None = None
    observation: Observation | None = None
    decision: Decision | None = None
    plan: Plan | None = None
    written: bool = False
    held: Hold | None = None
    error: str | None = None
    reason: Reason | None = None

    @property
    def ref(self) -> WorkloadRef:
        """The workload's reference."""
        return self.workload.ref


@dataclass(frozen=True, slots=True)
class CycleReport:
    """One cycle: when, whether it led, and every outcome."""

    started_at: float
    finished_at: float
    leader: bool
    outcomes: tuple[Outcome, ...] = ()
    source_errors: Mapping[str, str] = field(default_factory=dict)


def in_force(outcome: Outcome) -> bool:
    """Whether the plan's count is what the cluster has now: written this
    cycle, or nothing to write. "applied" means this, in the metric, the log
    and /status alike; a held plan is only "planned"."""
    plan = outcome.plan
    return plan is not None and (outcome.written or not plan.writes)
