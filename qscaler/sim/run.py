"""Run one controller over one trace: the loop every benchmark row comes from.

Kept apart from the world so that the world knows no controller and the
controllers know no world; an adapter that needs more control (qscaler's own
loop) can drive a `World` directly with the same three calls this loop makes.
"""

from __future__ import annotations

from dataclasses import replace

from qscaler.sim.controllers import Bounds, Controller, Static, static_replicas
from qscaler.sim.trace import Trace
from qscaler.sim.world import RunResult, Scenario, World


def run(trace: Trace, scenario: Scenario, controller: Controller) -> RunResult:
    """Simulate `trace` second by second, letting `controller` act at the start of each."""
    world = World(trace, scenario)
    while not world.done:
        desired = controller.act(world.now, world.observe(), world.spec_replicas)
        if desired != world.spec_replicas:
            world.set_replicas(desired)
        world.advance()
    return world.result()


def run_static(trace: Trace, scenario: Scenario, bounds: Bounds) -> RunResult:
    """The static baseline: `static_replicas` replace initial_replicas, all ready at t = 0."""
    replicas = static_replicas(trace.rates, scenario.service_rate, bounds)
    return run(trace, replace(scenario, initial_replicas=replicas), Static())
