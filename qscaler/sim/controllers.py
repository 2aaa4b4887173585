"""The controllers qscaler is compared with, as docs/benchmark-model.md defines them.

Each is a re-statement of what the real system does with the management API's
numbers, reduced to the rules that decide a replica count: KEDA's RabbitMQ
scaler behind the default HPA, the bash autoscaler qscaler replaces, and a
static deployment sized for the peak. They see only a `StatsSnapshot` and
spec.replicas, like the real systems, and clamp their own output; the world
applies whatever they return (§5.12).

qscaler itself is driven through the same `Controller` protocol by an adapter
that runs its real control loop against a simulated broker and cluster.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from qscaler.errors import ConfigError
from qscaler.sim.world import StatsSnapshot

#: KEDA and HPA defaults (docs/benchmark-model.md).
HPA_SYNC_SECONDS = 15
KEDA_POLLING_SECONDS = 30
KEDA_COOLDOWN_SECONDS = 300  # cooldownPeriod: inactive this long before 0
HPA_STABILIZATION_SECONDS = 300  # the HPA's downscale stabilization window
HPA_MIN_SCALE_UP = 4  # scale-up may reach this many, or add it, whichever the rule says
#: The bash autoscaler's loop period.
ONFIDO_INTERVAL_SECONDS = 30


class Controller(Protocol):
    """Anything that sets a workload's replica count from what the broker shows."""

    def act(self, now: int, snapshot: StatsSnapshot, spec_replicas: int) -> int:
        """Called at the start of every second; return the new spec.replicas (or the same)."""
        ...


@dataclass(frozen=True, slots=True)
class Bounds:
    """min_replicas and max_replicas, the same for every controller in a comparison."""

    min_replicas: int = 0
    max_replicas: int = 50

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ConfigError(
                "replica bounds need 0 ≤ min_replicas ≤ max_replicas and max_replicas ≥ 1, "
                f"got min {self.min_replicas}, max {self.max_replicas}"
            )

    def clamp_awake(self, replicas: int) -> int:
        """Clamp to [max(min_replicas, 1), max_replicas]: a count that is not 0."""
        return min(max(replicas, self.min_replicas, 1), self.max_replicas)


class KedaMode(StrEnum):
    """What KEDA's RabbitMQ trigger feeds the HPA: the queue depth or the publish rate."""

    QUEUE_LENGTH = "QueueLength"
    MESSAGE_RATE = "MessageRate"


@dataclass(frozen=True, slots=True)
class KedaKnobs:
    """The four things an operator tunes on a KEDA RabbitMQ ScaledObject (§3, keda-tuned).

    `window` is the HPA's scale-down stabilization window. `behavior` says
    whether the ScaledObject sets an HPA `behavior`: KEDA creates its HPA
    without one unless the operator writes one (as a window other than the
    default means doing), and the HPA's scale-up limit depends on it.
    """

    value: float
    mode: KedaMode = KedaMode.QUEUE_LENGTH
    window: int = HPA_STABILIZATION_SECONDS
    polling: int = KEDA_POLLING_SECONDS
    behavior: bool = False

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ConfigError(f"keda value must be > 0, got {self.value!r}")
        if self.window < 0:
            raise ConfigError(f"keda stabilization window must be ≥ 0 s, got {self.window}")
        if self.polling < 1:
            raise ConfigError(f"keda pollingInterval must be ≥ 1 s, got {self.polling}")

    def describe(self) -> str:
        """The setting in words, for tables: "MessageRate 5, window 0 s, polling 5 s"."""
        return f"{self.mode} {self.value:g}, window {self.window} s, polling {self.polling} s"


def hpa_recommendation(metric: float, value: float, spec: int, bounds: Bounds) -> int:
    """The HPA's count for KEDA's AverageValue metric, with the exact ±10 % tolerance (§5.2)."""
    if 10 * abs(metric - value * spec) <= value * spec:
        return bounds.clamp_awake(spec)
    return bounds.clamp_awake(math.ceil(metric / value))


def hpa_scale_up_limit(spec: int, behavior: bool) -> int:
    """The most replicas one HPA sync may reach from `spec`.

    Without a `behavior` the HPA keeps its legacy rule, max(2 · spec, 4); with
    one, the API server's default scale-up policies (100 % or 4 pods per
    15 s, whichever is more) give max(spec + 4, 2 · spec) (§3, v1.2).
    """
    if behavior:
        return max(spec + HPA_MIN_SCALE_UP, 2 * spec)
    return max(2 * spec, HPA_MIN_SCALE_UP)


def hpa_scale(recommendation: int, spec: int, window: Sequence[int], behavior: bool = False) -> int:
    """Apply the HPA's limits to a recommendation.

    Up: no stabilization, at most `hpa_scale_up_limit`. Down: the highest
    recommendation of the window (which includes this one), never above spec (§5.3).
    """
    if recommendation > spec:
        return min(recommendation, hpa_scale_up_limit(spec, behavior))
    if recommendation < spec:
        return min(spec, max(window))
    return spec


class Keda:
    """KEDA's RabbitMQ scaler and the HPA it creates, with an operator's four knobs.

    The HPA part runs every 15 s while the workload has replicas; KEDA's own
    operator runs every `polling` seconds (after the HPA part, on the same
    snapshot) and is the only one that moves between 0 and 1 (§3, §5.4, §5.5).
    `Keda(value, bounds)` is the benchmark's plain `keda`: QueueLength, a
    300-s window, 30-s polling, no HPA behavior.
    """

    __slots__ = ("_last_active", "_recommendations", "bounds", "knobs")

    def __init__(self, value: float | KedaKnobs, bounds: Bounds) -> None:
        self.knobs = value if isinstance(value, KedaKnobs) else KedaKnobs(value)
        self.bounds = bounds
        self._recommendations: deque[tuple[int, int]] = deque()
        self._last_active: int | None = None

    @property
    def value(self) -> float:
        """The trigger's target value."""
        return self.knobs.value

    def act(self, now: int, snapshot: StatsSnapshot, spec_replicas: int) -> int:
        """See the class docstring."""
        replicas = spec_replicas
        if now % HPA_SYNC_SECONDS == 0 and replicas >= 1:
            replicas = self._hpa(now, self._metric(snapshot), replicas)
        if now % self.knobs.polling == 0:
            replicas = self._operator(now, self._active(snapshot), replicas)
        return replicas

    def _metric(self, snapshot: StatsSnapshot) -> float:
        if self.knobs.mode is KedaMode.MESSAGE_RATE:
            return snapshot.publish_rate
        return snapshot.messages

    def _active(self, snapshot: StatsSnapshot) -> bool:
        if self.knobs.mode is KedaMode.MESSAGE_RATE:
            return snapshot.messages > 0 or snapshot.publish_rate > 0
        return snapshot.messages > 0

    def _hpa(self, now: int, metric: float, spec: int) -> int:
        recommendation = hpa_recommendation(metric, self.knobs.value, spec, self.bounds)
        window = self._recommendations
        window.append((now, recommendation))
        while window and window[0][0] <= now - self.knobs.window:
            window.popleft()
        recent = [n for _, n in window] or [recommendation]
        return hpa_scale(recommendation, spec, recent, self.knobs.behavior)

    def _operator(self, now: int, active: bool, spec: int) -> int:
        if active:
            self._last_active = now
            return 1 if spec == 0 else spec
        recently_active = (
            self._last_active is not None and self._last_active > now - KEDA_COOLDOWN_SECONDS
        )
        if self.bounds.min_replicas == 0 and not recently_active:
            return 0
        return spec


def onfido_desired(messages: float, messages_per_pod: float, spec: int, bounds: Bounds) -> int:
    """One pass of the bash autoscaler: floor(messages / M), stepping down by 10 % (§3, §5.6)."""
    required = math.floor(messages / messages_per_pod)
    if required == spec:
        return spec
    desired = bounds.clamp_awake(required)
    if desired < spec:
        desired = (9 * spec + desired) // 10
    return desired


class Onfido:
    """The bash autoscaler qscaler replaces (`mesgPerPod` = M, every 30 s)."""

    __slots__ = ("bounds", "messages_per_pod")

    def __init__(self, messages_per_pod: float, bounds: Bounds) -> None:
        if messages_per_pod <= 0:
            raise ConfigError(f"onfido messages per pod must be > 0, got {messages_per_pod!r}")
        self.messages_per_pod = messages_per_pod
        self.bounds = bounds

    def act(self, now: int, snapshot: StatsSnapshot, spec_replicas: int) -> int:
        """See the class docstring."""
        if now % ONFIDO_INTERVAL_SECONDS != 0:
            return spec_replicas
        return onfido_desired(snapshot.messages, self.messages_per_pod, spec_replicas, self.bounds)


def static_replicas(rates: Sequence[float], service_rate: float, bounds: Bounds) -> int:
    """Enough replicas for the peak second, clamped to the bounds (§3, §5.7)."""
    peak = math.ceil(max(rates, default=0.0) / service_rate)
    return min(max(peak, bounds.min_replicas), bounds.max_replicas)


class Static:
    """Never changes the count: with `static_replicas` as the initial count, the static baseline."""

    __slots__ = ()

    def act(self, now: int, snapshot: StatsSnapshot, spec_replicas: int) -> int:
        """Return spec_replicas unchanged."""
        return spec_replicas
