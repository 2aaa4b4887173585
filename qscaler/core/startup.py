"""Learn how long a new replica of this workload takes to start consuming. Pure.

Replicas requested now work only after their pods are scheduled, pulled,
started and connected: 30 s is common, minutes are not rare. While they
start, the queue keeps growing at the old capacity, so a surge must be sized
for the queue as it will be when they arrive, not as it is now. qscaler does
not ask the user for this delay: it times its own scale-ups, from raising
spec.replicas to the consumer count reaching the new value (as the broker
reports it, so the stats delay is included, as it should be).
"""

from __future__ import annotations

from qscaler.core.rate_aware_state import Starting

#: Weight of a new start-up measurement in the learned figure.
SMOOTHING = 0.5


def timed(
    starting: Starting | None, startup: float | None, consumers: int, now: float
) -> tuple[Starting | None, float | None]:
    """Close the timed scale-up once the consumers reach its target.

    Returns the scale-up still being timed (or None) and the learned start-up time.
    """
    if starting is None or consumers < starting.target:
        return starting, startup
    measured = max(0.0, now - starting.at)
    if startup is None:
        return None, measured
    return None, startup + SMOOTHING * (measured - startup)


def timing(starting: Starting | None, current: int, desired: int, now: float) -> Starting | None:
    """Start timing a scale-up; forget one that a scale-down has cancelled.

    Only the first of several scale-ups in a row is timed: the later ones
    would be measured from when the first was made.
    """
    if starting is not None and desired < starting.target:
        return None
    if starting is None and desired > current:
        return Starting(at=now, target=desired)
    return starting
