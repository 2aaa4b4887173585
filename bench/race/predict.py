"""What the simulator predicts for a race cut, and which KEDA configuration to race.

The live arms are configured from the simulator: KEDA with the keda-tuned
configuration that is best-tuned on the very cut being raced (the fewest
replica-seconds among the configurations that meet the SLO, §3's rule), and
qscaler with the benchmark's policy file. The prediction is the simulator run
of the same cut, scenario and configuration, so each live row has exactly one
simulated row to be compared with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.race.arms import Scenario
from qscaler.sim.controllers import Bounds, Keda, KedaKnobs, KedaMode
from qscaler.sim.policy_file import load_policy
from qscaler.sim.qscaler_controller import QscalerController
from qscaler.sim.run import run
from qscaler.sim.scores import score
from qscaler.sim.trace import Trace
from qscaler.sim.tuning import sweep_keda
from qscaler.sim.world import Scenario as SimScenario

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "bench" / "policy.yaml"
BOUNDS = Bounds(min_replicas=0, max_replicas=50)


def policy_annotations() -> dict[str, str]:
    """The benchmark policy as the annotations a user writes, with the race's bounds."""
    annotations = dict(load_policy(POLICY))
    annotations["qscaler.io/min-replicas"] = str(BOUNDS.min_replicas)
    annotations["qscaler.io/max-replicas"] = str(BOUNDS.max_replicas)
    return annotations


def best_keda(rates: list[float], scenario: Scenario) -> dict[str, Any]:
    """The best-tuned keda-tuned configuration for this cut, as the arm's config."""
    sweep = sweep_keda(_trace(rates), _scenario(scenario), BOUNDS)
    return as_config(sweep.configurations[sweep.best])


def simulate(rates: list[float], scenario: Scenario, keda: dict[str, Any] | None) -> dict[str, Any]:
    """The simulator's scores for each arm on this cut (KEDA's when configured)."""
    trace, world = _trace(rates), _scenario(scenario)
    runs = {"qscaler": run(trace, world, QscalerController(load_policy(POLICY), BOUNDS))}
    if keda is not None:
        runs["keda"] = run(trace, world, Keda(as_knobs(keda), BOUNDS))
    return {
        arm: {**score(result).as_dict(), "replicas": list(result.replicas)}
        for arm, result in runs.items()
    }


def as_config(knobs: KedaKnobs) -> dict[str, Any]:
    """A configuration the race writes into a ScaledObject (JSON-friendly)."""
    return {
        "mode": str(knobs.mode),
        "value": knobs.value,
        "window": knobs.window if knobs.behavior else None,
        "polling": knobs.polling,
    }


def as_knobs(config: dict[str, Any]) -> KedaKnobs:
    """The simulator's knobs for a race configuration (the inverse of `as_config`)."""
    window = config["window"]
    return KedaKnobs(
        value=config["value"],
        mode=KedaMode(config["mode"]),
        window=300 if window is None else window,
        polling=config["polling"],
        behavior=window is not None,
    )


def _trace(rates: list[float]) -> Trace:
    return Trace(name="race-cut", rates=tuple(rates))


def _scenario(scenario: Scenario) -> SimScenario:
    return SimScenario(
        service_rate=scenario.service_rate,
        startup_seconds=scenario.startup_seconds,
        slo_seconds=scenario.slo_seconds,
    )
