"""What rate-aware mode remembers about one workload between calls: its own frozen state.

It lives in `History.rate_aware`; only the rate-aware strategy
(`qscaler.core.rate_aware`) reads or writes it, so backlog mode and the
pipeline in `qscaler.core.decide` never see these figures. It is a module of
its own, below `model`, so that `History` can hold it without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    """The few figures of the previous trusted observation that the next one is compared with.

    Throughput is learned only over an interval whose two ends agree (the
    same consumers, messages waiting at both); a queue that grew over two
    intervals in a row is evidence of a surge rather than a burst.
    """

    at: float
    consumers: int
    queued: int  # messages ready: waiting for a consumer
    rising: bool = False  # queued had grown since the reading before


@dataclass(frozen=True, slots=True)
class Starting:
    """A scale-up whose replicas have not all started consuming yet.

    When the consumer count reaches `target`, the time since `at` is how long
    this workload takes to start a replica (the learned start-up time).
    """

    at: float
    target: int


@dataclass(frozen=True, slots=True)
class RateAwareState:
    """What rate-aware mode has learned from what it observed.

    `throughput` is the messages per second one replica processes
    (`throughput_confirmed` once it was measured on busy consumers rather
    than only bounded from below), `arrival_rate` the publish rate averaged
    over the policy's rate window, `startup_seconds` how long a new replica
    takes to start consuming (with `starting` the scale-up being timed),
    `surge_until` when the surge being absorbed ends, and `last` the previous
    observation. Kept while the policy is in another mode, so switching back
    resumes from what was learned.
    """

    throughput: float | None = None
    throughput_confirmed: bool = False
    arrival_rate: float | None = None
    startup_seconds: float | None = None
    starting: Starting | None = None
    surge_until: float | None = None
    last: Reading | None = None
