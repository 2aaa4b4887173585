"""The forecast through qscaler's real loop, in the simulator: a recurring batch for
slow-starting consumers, seen by the metrics, the status table and the reasons."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from qscaler.core.reasons import Reason
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.status import render_table, status_document
from qscaler.sim.controllers import Bounds
from qscaler.sim.qscaler_controller import WORKLOAD, QscalerController
from qscaler.sim.trace import Trace
from qscaler.sim.world import Scenario, World

#: 200/s for 60 s every 600 s over 2/s, consumers of 5/s that take 60 s to start.
TRACE = Trace("batches", tuple(200.0 if t >= 600 and t % 600 < 60 else 2.0 for t in range(2400)))
SCENARIO = Scenario(service_rate=5, startup_seconds=60)
LABELS = {"namespace": WORKLOAD.namespace, "workload": WORKLOAD.name, "kind": WORKLOAD.kind}


Reasons = list[tuple[int, int, Reason]]  # (second, replicas, reason) per decision


def play(
    policy: dict[str, str], until: int
) -> tuple[QscalerController, CollectorRegistry, Reasons]:
    registry = CollectorRegistry()
    reporter = OutcomeRecorder(Metrics(registry))
    controller = QscalerController(policy, Bounds(0, 50), recorder=reporter)
    world = World(TRACE, SCENARIO)
    reasons: Reasons = []
    while world.now < until:
        desired = controller.act(world.now, world.observe(), world.spec_replicas)
        if desired != world.spec_replicas:
            world.set_replicas(desired)
        report = controller.last_report
        if report is not None and report.outcomes and report.outcomes[0].decision:
            reasons.append((world.now, world.spec_replicas, report.outcomes[0].decision.reason))
        world.advance()
    return controller, registry, reasons


def test_the_floor_rises_before_the_third_batch_and_says_why() -> None:
    # Batches at 600, 1200 are history; the one at 1800 is forecast.
    controller, registry, reasons = play({"qscaler.io/target-drain-seconds": "60"}, until=1800)

    forecast = [(t, n) for t, n, reason in reasons if reason == "Forecast"]
    assert forecast, "no Forecast decision before the third batch"
    first_at, raised_to = forecast[0]
    assert 1800 - 150 <= first_at < 1800 - 60  # one start-up (plus margin) ahead, not earlier
    assert raised_to >= 20  # far above the 1 the trickle needs
    assert registry.get_sample_value("qscaler_forecast_period_seconds", LABELS) == 600
    replicas = registry.get_sample_value("qscaler_forecast_replicas", LABELS)
    assert replicas is not None
    assert replicas >= 20
    assert registry.get_sample_value("qscaler_forecast_trust", LABELS) == 1.0
    table = render_table(status_document(controller.last_report))
    assert "forecast sim/consumer: period 600s, trust 1.00" in table


def test_shadow_mode_reports_the_forecast_and_changes_nothing() -> None:
    policy = {"qscaler.io/target-drain-seconds": "60", "qscaler.io/forecast": "shadow"}
    controller, registry, reasons = play(policy, until=1800)

    assert all(reason != "Forecast" for _, _, reason in reasons)
    assert max(n for t, n, _ in reasons if 1500 <= t < 1800) < 10  # nothing raised ahead
    replicas = registry.get_sample_value("qscaler_forecast_replicas", LABELS)
    assert replicas is not None
    assert replicas >= 20
    table = render_table(status_document(controller.last_report))
    assert "(shadow: not applied)" in table
