"""The qscaler the benchmark measures is the one `qscaler run` runs, not a copy."""

from __future__ import annotations

import inspect

import pytest

import qscaler.cycle
import qscaler.loop
from qscaler.core.decide import decide
from qscaler.core.model import Decision
from qscaler.core.rates import RateSmoother
from qscaler.settings import Settings
from qscaler.sim.controllers import Bounds
from qscaler.sim.policy_file import load_policy
from qscaler.sim.qscaler_controller import QscalerController
from qscaler.sim.run import run
from qscaler.sim.trace import Trace
from qscaler.sim.world import RunResult, Scenario

TRACE = Trace("step", (10.0,) * 100 + (90.0,) * 200 + (0.0,) * 300)


def spied_run(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[RunResult, QscalerController, list[Decision], list[float]]:
    """The trace played by the loop with decide() and the rate smoothing spied on."""
    decided: list[Decision] = []
    smoothed: list[float] = []
    real_decide, real_smooth = decide, RateSmoother.smooth  # decide: what qscaler.cycle imports

    def spy_decide(*args: object, **kwargs: object) -> object:
        decision, history = real_decide(*args, **kwargs)  # type: ignore[arg-type]
        decided.append(decision)
        return decision, history

    def spy_smooth(self: RateSmoother, snapshot: object) -> object:
        smoothed.append(snapshot.read_at)  # type: ignore[attr-defined]
        return real_smooth(self, snapshot)  # type: ignore[arg-type]

    monkeypatch.setattr(qscaler.cycle, "decide", spy_decide)
    monkeypatch.setattr(RateSmoother, "smooth", spy_smooth)
    controller = QscalerController(load_policy(None), Bounds())
    return run(TRACE, Scenario(), controller), controller, decided, smoothed


def test_decisions_flow_through_the_live_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    result, controller, decided, smoothed = spied_run(monkeypatch)
    assert type(controller.loop) is qscaler.loop.ControlLoop

    polls = len(TRACE) // 5
    assert len(decided) == polls  # one loop cycle, one decide() per 5-second poll
    assert smoothed == [float(5 * i) for i in range(polls)]  # the loop's rate smoothing
    # Every count the world ran with was a decision of the loop, written by it.
    for change in result.changes:
        poll = decided[change.at // 5]
        assert (poll.current, poll.desired) == (change.before, change.after)
    assert controller.cluster.writes == len(result.changes)
    assert any(d.desired > 1 for d in decided)


def test_the_loop_without_the_spy_makes_the_same_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the spied run showed holds for the run the benchmark makes: the
    spies changed nothing, so every change of the plain run is the loop's."""
    plain = run(TRACE, Scenario(), QscalerController(load_policy(None), Bounds()))
    spied, _, _, _ = spied_run(monkeypatch)
    assert len(plain.changes) > 2  # up with the step, down after it
    assert plain == spied


def test_the_simulated_loop_polls_and_smooths_like_run_by_default() -> None:
    defaults = inspect.signature(QscalerController).parameters
    fields = Settings.model_fields
    assert defaults["poll_interval"].default == fields["poll_interval_seconds"].default
    assert defaults["rate_smoothing_seconds"].default == fields["rate_smoothing_seconds"].default
