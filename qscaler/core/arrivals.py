"""The arrival rate replicas are sized for: the publish rate averaged over a window. Pure.

A replica takes tens of seconds to start and costs as long as it runs, so
sizing for every 5-second wiggle of the publish rate buys replicas that
arrive after the wiggle has passed. Rate-aware mode sizes for the publish
rate averaged over `rate-window` (an exponentially weighted average whose
weights depend on the time between samples, like `qscaler.core.rates`);
the queue absorbs what the average misses and the drain and surge terms of
`qscaler.core.sizing` react to it. Knative sizes for a 60-second average the
same way (its "stable window").

The average is taken over the broker's raw samples, not over the loop's
already smoothed rate, so the two smoothings do not add up to a longer lag.
"""

from __future__ import annotations

import math

from qscaler.core.demand import Demand


def latest_rate(demand: Demand) -> float | None:
    """The publish rate of the newest broker sample (the smoothed one if no raw sample)."""
    return demand.publish_sample if demand.publish_sample is not None else demand.publish_rate


def average_rate(
    previous: float | None, sample: float | None, elapsed: float, window: float
) -> float | None:
    """Blend `sample` into the running average; `window` 0 takes each sample as it is."""
    if sample is None:
        return previous
    if previous is None or window <= 0:
        return sample
    weight = 1.0 - math.exp(-max(elapsed, 0.0) / window)
    return previous + weight * (sample - previous)
