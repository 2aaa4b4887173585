"""Smooth the broker's message rates before anything decides on them.

RabbitMQ's management `rate` fields are "how much the count changed per second
in the most recent sampling interval": one noisy sample, with bogus spikes
after a broker restart resets its counters (rabbitmq/rabbitmq-server#8418;
KEDA users report flapping from it, kedacore/keda#4507). qscaler blends each
new sample into an exponentially weighted moving average with a time constant,
so the weight of a sample depends on the time since the previous one, not on
how often qscaler polls.

The live loop and the simulator both call `RateSmoother.smooth` on every raw
snapshot, which is what makes the simulated qscaler the real one. Deterministic
and I/O-free; the state is one small entry per queue. At 20,000 queues per
poll, most of them idle, a queue whose numbers did not change and whose
averages have settled keeps its previous sample object (nothing to blend).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qscaler.core.model import QueueSample, QueueStats, VhostSnapshot


@dataclass(slots=True)
class _Smoothed:
    publish: float | None
    ack: float | None
    at: float
    stats: QueueStats | None = None  # the raw numbers `sample` was made from
    sample: QueueSample | None = None

    def settled(self, stats: QueueStats) -> bool:
        """Same raw numbers as last time, and nothing left to blend in."""
        return (
            stats == self.stats
            and (stats.publish_rate is None or stats.publish_rate == self.publish)
            and (stats.ack_rate is None or stats.ack_rate == self.ack)
        )


def _blend(previous: float | None, raw: float | None, weight: float) -> float | None:
    if raw is None:
        return previous
    if previous is None:
        return raw
    return previous + weight * (raw - previous)


class RateSmoother:
    """EWMA of publish and ack rates per (vhost, queue).

    `time_constant_seconds` 0 disables smoothing (each sample is taken as is).
    Queues not seen for `forget_after_seconds` are dropped, so deleted queues
    do not accumulate.
    """

    def __init__(self, time_constant_seconds: float = 15.0, forget_after_seconds: float = 600.0):
        self.time_constant = time_constant_seconds
        self.forget_after = forget_after_seconds
        self._state: dict[tuple[str, str], _Smoothed] = {}
        self._last_forget = -math.inf

    def smooth(self, snapshot: VhostSnapshot) -> dict[str, QueueSample]:
        """Samples for every queue of the snapshot, with smoothed rates."""
        now = snapshot.read_at
        samples = {
            name: self._sample(snapshot.vhost, stats, now)
            for name, stats in snapshot.queues.items()
        }
        if now - self._last_forget > self.forget_after:
            self._forget(now)
        return samples

    def _sample(self, vhost: str, stats: QueueStats, now: float) -> QueueSample:
        key = (vhost, stats.name)
        previous = self._state.get(key)
        if previous is not None and previous.sample is not None and previous.settled(stats):
            previous.at = now  # blending would give the same sample
            return previous.sample
        if previous is None:
            smoothed = _Smoothed(stats.publish_rate, stats.ack_rate, now)
        else:
            weight = self._weight(now - previous.at)
            smoothed = _Smoothed(
                _blend(previous.publish, stats.publish_rate, weight),
                _blend(previous.ack, stats.ack_rate, weight),
                now,
            )
        self._state[key] = smoothed
        smoothed.stats, smoothed.sample = stats, self._new_sample(stats, smoothed)
        return smoothed.sample

    @staticmethod
    def _new_sample(stats: QueueStats, smoothed: _Smoothed) -> QueueSample:
        return QueueSample(
            name=stats.name,
            messages_ready=stats.messages_ready,
            messages_unacknowledged=stats.messages_unacknowledged or 0,
            consumers=stats.consumers,
            publish_rate=smoothed.publish,
            ack_rate=smoothed.ack,
            publish_rate_sample=stats.publish_rate,
            ack_rate_sample=stats.ack_rate,
        )

    def _weight(self, elapsed: float) -> float:
        if self.time_constant <= 0:
            return 1.0
        return 1.0 - math.exp(-max(elapsed, 0.0) / self.time_constant)

    def _forget(self, now: float) -> None:
        self._last_forget = now
        stale = [k for k, v in self._state.items() if now - v.at > self.forget_after]
        for key in stale:
            del self._state[key]
