"""Backlog mode as a strategy: the backlog ÷ messages-per-replica, nothing learned. Pure.

The rule every queue autoscaler shares (KEDA's QueueLength, the original
bash script); the arithmetic is `qscaler.core.demand.backlog_sized`. It keeps
no state of its own in `History`.
"""

from __future__ import annotations

from qscaler.core.demand import Demand, backlog_sized
from qscaler.core.model import History
from qscaler.core.policy import Policy
from qscaler.core.strategy import Sizing


class Backlog:
    """Size on the backlog alone (a policy without target-drain-seconds)."""

    def size(
        self, demand: Demand, policy: Policy, history: History, current: int, now: float
    ) -> Sizing:
        """The backlog rule; the history passes through untouched.

        The throughput reported is whatever rate-aware mode learned before the
        policy changed to backlog mode (None if it never was rate-aware): what
        decide() reported before the modes became strategies.
        """
        assert policy.messages_per_replica is not None
        sized = backlog_sized(demand, policy.messages_per_replica)
        return Sizing(sized, history, throughput=history.rate_aware.throughput)

    def settle(self, history: History, current: int, desired: int, now: float) -> History:
        """Nothing to learn from the outcome."""
        return history
