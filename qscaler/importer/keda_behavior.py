"""The HPA `behavior` KEDA passes through, and `cooldownPeriod`, as qscaler's
cooldown and per-minute scale limits, with the arithmetic spelled out.

KEDA copies `advanced.horizontalPodAutoscalerConfig.behavior` into the HPA it
creates; without it the HPA runs its defaults (scale-down stabilization 300 s).
`cooldownPeriod` only governs the last step to zero. qscaler has one cooldown
(a scale-down stabilization window for every step) and limits per minute, so:

* cooldown = the larger of the HPA's scale-down window and, when the workload
  may go to zero, `cooldownPeriod`: never shrinking sooner than KEDA did;
* an HPA policy "N pods (or P%) per S seconds" becomes the per-minute change
  it allows when applied back to back: N·60/S pods, or (1+P)^(60/S)−1 up and
  1−(1−P)^(60/S) down;
* with several policies, the one `selectPolicy` would pick at the middle of the
  workload's replica range (qscaler keeps one limit per direction).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qscaler.importer.keda_objects import SpecProblem, amount, mapping

#: The HPA's default scale-down stabilization (the controller flag's default).
HPA_DOWNSCALE_STABILIZATION = 300.0
KEDA_DEFAULT_COOLDOWN = 300.0
#: qscaler's bounds for limits, from its annotation parser.
MAX_UP_PERCENT = 1000.0
MAX_DOWN_PERCENT = 100.0


@dataclass(frozen=True, slots=True)
class Carried:
    """An annotation value (None: leave qscaler's default) and the sentences saying why."""

    value: str | None
    said: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()


def cooldown(spec: Mapping[str, Any], behavior: Mapping[str, Any], min_replicas: int) -> Carried:
    """qscaler's cooldown from `cooldownPeriod` and the scale-down stabilization window."""
    down = mapping(behavior.get("scaleDown"))
    window = down.get("stabilizationWindowSeconds")
    hpa_window = (
        amount(window, "behavior.scaleDown.stabilizationWindowSeconds")
        if window is not None
        else HPA_DOWNSCALE_STABILIZATION
    )
    hpa_from = "" if window is not None else " (the HPA's default)"
    period = amount(spec.get("cooldownPeriod", KEDA_DEFAULT_COOLDOWN), "spec.cooldownPeriod")
    if min_replicas > 0:
        said = (
            f"cooldown {hpa_window:g}s = the HPA's scale-down stabilization window "
            f"{hpa_window:g}s{hpa_from}; cooldownPeriod {period:g}s only applies to "
            "scaling to zero, which min-replicas > 0 rules out",
        )
        return Carried(f"{hpa_window:g}s", said)
    seconds = max(hpa_window, period)
    said = (
        f"cooldown {seconds:g}s = max(cooldownPeriod {period:g}s, the HPA's scale-down "
        f"stabilization window {hpa_window:g}s{hpa_from}): qscaler applies one cooldown to "
        "every step down, including the last one to zero",
    )
    return Carried(f"{seconds:g}s", said)


def limit(behavior: Mapping[str, Any], direction: str, middle: int) -> Carried:
    """The `scale-up-limit` or `scale-down-limit` (direction "up"/"down")."""
    rules = mapping(behavior.get("scaleUp" if direction == "up" else "scaleDown"))
    key = f"scale-{direction}-limit"
    policies = rules.get("policies") or []
    if not isinstance(policies, list):
        raise SpecProblem(
            f"behavior.scale{direction.capitalize()}.policies is a "
            f"{type(policies).__name__}, not a list"
        )
    select = str(rules.get("selectPolicy") or "Max")
    lost = []
    window = amount(
        rules.get("stabilizationWindowSeconds") or 0,
        f"behavior.scale{direction.capitalize()}.stabilizationWindowSeconds",
    )
    if direction == "up" and window > 0:
        lost.append(
            f"behavior.scaleUp.stabilizationWindowSeconds {rules['stabilizationWindowSeconds']}: "
            "qscaler never delays a scale-up (it stabilizes only downward)"
        )
    if select == "Disabled":
        lost.append(
            f"behavior.scale{direction.capitalize()}.selectPolicy Disabled: qscaler cannot "
            f"forbid scaling {direction} alone; use qscaler.io/mode: paused to hold a workload"
        )
        return Carried(None, (), tuple(lost))
    if not policies:
        return Carried(None, (), tuple(lost))
    options = [_per_minute(mapping(p), direction) for p in policies]
    chosen = _select(options, select, middle)
    said = [f"{key} {chosen.annotation or 'unlimited'}: {chosen.arithmetic}"]
    if len(options) > 1:
        said.append(
            f"{key}: of {len(options)} policies, selectPolicy {select} at {middle} replicas "
            "(the middle of min..max) picks this one; qscaler keeps one limit"
        )
    return Carried(chosen.annotation, tuple(said), tuple(lost))


@dataclass(frozen=True, slots=True)
class _Option:
    annotation: str | None  # None: no limit qscaler can express is tighter than "unlimited"
    arithmetic: str
    pods: int | None = None
    percent: float | None = None

    def allowed(self, replicas: int) -> float:
        if self.annotation is None:
            return float("inf")
        if self.pods is not None:
            return float(self.pods)
        assert self.percent is not None
        return replicas * self.percent / 100


def _per_minute(policy: Mapping[str, Any], direction: str) -> _Option:
    kind, value = str(policy.get("type")), amount(policy.get("value", 0), "a policy's value")
    period = amount(policy.get("periodSeconds") or 60, "a policy's periodSeconds") or 60.0
    steps = 60.0 / period
    text = f"{kind} {value:g} per {period:g}s"
    if kind == "Pods":
        pods = max(1, round(value * steps))
        return _Option(str(pods), f"{text} = {value:g} × 60/{period:g} = {pods} per minute", pods)
    if direction == "up":
        percent = 100 * ((1 + value / 100) ** steps - 1)
        formula = f"(1 + {value:g}%)^(60/{period:g}) − 1"
        if percent > MAX_UP_PERCENT:
            return _Option(None, f"{text} = {formula} = {percent:.0f}% per minute: unlimited")
    else:
        percent = min(MAX_DOWN_PERCENT, 100 * (1 - (1 - min(value, 100) / 100) ** steps))
        formula = f"1 − (1 − {value:g}%)^(60/{period:g})"
    percent = max(1.0, round(percent))
    return _Option(
        f"{percent:g}%", f"{text} = {formula} = {percent:g}% per minute", percent=percent
    )


def _select(options: list[_Option], select: str, middle: int) -> _Option:
    ranked = sorted(options, key=lambda o: o.allowed(middle))
    return ranked[-1] if select == "Max" else ranked[0]
