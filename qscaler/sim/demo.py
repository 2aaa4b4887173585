"""`qscaler demo`: the real controller loop against a simulated broker and cluster.

Nothing is faked on qscaler's side: `QscalerController` runs `qscaler run`'s
loop (bindings → source → smoothing → decide → plan → write) with a real
`OutcomeRecorder` and `Metrics` on the demo's own registry, served on /metrics,
/healthz, /readyz and /status while it runs, so a dashboard can watch it.
Only the broker and the cluster are simulated, by the benchmark's world, in
accelerated time: `speed` simulated seconds per real second (0: as fast as
the machine goes).

The terminal view redraws a small panel in place on a TTY, and prints one
line per simulated minute otherwise (logs, CI). At the end: the scores, the
same trace under best-tuned KEDA for comparison, and a chart.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry

from qscaler.errors import ConfigError
from qscaler.outcome import CycleReport
from qscaler.record.metrics import Metrics
from qscaler.record.recorder import OutcomeRecorder
from qscaler.record.server import Health, serve
from qscaler.record.status import status_document
from qscaler.sim import chart
from qscaler.sim.bench import Kind, Row, simulate
from qscaler.sim.controllers import Bounds
from qscaler.sim.qscaler_controller import QscalerController
from qscaler.sim.report import scores_table
from qscaler.sim.scores import score
from qscaler.sim.trace import Trace, load_trace
from qscaler.sim.world import RunResult, Scenario, World

DEFAULT_TRACE = "noisy.csv"
#: Addresses that mean "every interface": the banner links to localhost instead.
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - compared, not bound
#: Real seconds between redraws of the TTY panel.
REDRAW_SECONDS = 0.1
#: Simulated seconds between lines when stdout is not a terminal.
LINE_EVERY_SECONDS = 60


def default_trace() -> Trace:
    """The one-hour trace shipped in the package (the benchmark's noisy trace)."""
    with resources.as_file(resources.files("qscaler.sim") / "traces" / DEFAULT_TRACE) as path:
        return load_trace(Path(path))


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `qscaler demo` was asked for."""

    trace: Trace
    policy: Mapping[str, str]
    policy_name: str = "default policy"
    speed: float = 60.0
    chart: Path | None = None
    metrics_address: str = "127.0.0.1"
    metrics_port: int = 0  # 0: do not serve
    scenario: Scenario = field(default_factory=Scenario)
    bounds: Bounds = field(default_factory=Bounds)


@dataclass(frozen=True, slots=True)
class Frame:
    """What the view shows at one simulated second."""

    now: int
    length: int
    publish_rate: float
    backlog: float
    requested: int
    ready: int
    reason: str


@dataclass(frozen=True, slots=True)
class DemoResult:
    """The demo's run and the comparison it ends with."""

    qscaler: Row
    keda: Row
    chart: Path | None


class View:
    """The live terminal view: a panel redrawn in place, or periodic lines."""

    def __init__(self, out: TextIO, tty: bool, clock: Callable[[], float]) -> None:
        self.out, self.tty, self.clock = out, tty, clock
        self._drawn = 0
        self._last_draw = -1e18

    def due(self, now: int) -> bool:
        """Whether a frame for simulated second `now` would be shown (frames cost a copy)."""
        if self.tty:
            return self.clock() - self._last_draw >= REDRAW_SECONDS
        return now % LINE_EVERY_SECONDS == 0

    def show(self, frame: Frame) -> None:
        """Draw the frame: redraw the panel, or print a line."""
        if self.tty:
            self._redraw(_panel(frame))
            self._last_draw = self.clock()
        else:
            print(_line(frame), file=self.out, flush=True)

    def _redraw(self, lines: list[str]) -> None:
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)


def run_demo(
    options: DemoOptions,
    out: TextIO,
    tty: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DemoResult:
    """Play the trace through the real loop, live; then score it and compare with KEDA."""
    registry = CollectorRegistry()
    reporter = OutcomeRecorder(Metrics(registry))
    controller = QscalerController(options.policy, options.bounds, recorder=reporter)
    health = Health(clock, stuck_after_seconds=60.0)
    server = _serve(options, registry, health, reporter, out)
    print(_banner(options, server), file=out, flush=True)
    try:
        result = _play(options, controller, health, View(out, tty, clock), clock, sleep)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    ours = Row(Kind.QSCALER, options.policy_name, result, score(result))
    keda = simulate(Kind.KEDA, options.trace, options.scenario, options.bounds, options.policy)
    drawn = _chart(options, ours, keda, out)
    print(_summary(options.trace, ours, keda, drawn), file=out, flush=True)
    return DemoResult(ours, keda, drawn)


def _play(
    options: DemoOptions,
    controller: QscalerController,
    health: Health,
    view: View,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> RunResult:
    world = World(options.trace, options.scenario)
    started, seen = clock(), controller.last_report
    while not world.done:
        snapshot = world.observe()
        desired = controller.act(world.now, snapshot, world.spec_replicas)
        if controller.last_report is not seen:
            seen = controller.last_report
            health.cycle_done()
        if desired != world.spec_replicas:
            world.set_replicas(desired)
        world.advance()
        if world.done or view.due(world.now):
            view.show(_frame(world, snapshot.publish_rate, seen))
        if options.speed > 0:
            sleep(max(0.0, started + world.now / options.speed - clock()))
    return world.result()


def _frame(world: World, publish_rate: float, report: CycleReport | None) -> Frame:
    result = world.result()
    return Frame(
        now=world.now,
        length=len(world.trace),
        publish_rate=publish_rate,
        backlog=result.backlog[-1],
        requested=result.replicas[-1],
        ready=result.ready[-1],
        reason=_last_reason(report),
    )


def _last_reason(report: CycleReport | None) -> str:
    if report is None or not report.outcomes:
        return "no decision yet"
    outcome = report.outcomes[0]
    if outcome.decision is None:
        return f"{outcome.reason}: {outcome.error}"
    return f"{outcome.decision.reason}: {outcome.decision.message}"


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _panel(frame: Frame) -> list[str]:
    done = frame.now / frame.length if frame.length else 1.0
    bar = "#" * round(30 * done) + "." * (30 - round(30 * done))
    return [
        f"time      {_clock(frame.now)} / {_clock(frame.length)}  [{bar}] {done:4.0%}",
        f"publish   {frame.publish_rate:8.1f} msg/s (as the broker last reported it)",
        f"backlog   {frame.backlog:8.0f} messages",
        f"replicas  {frame.requested:8d} requested, {frame.ready} ready",
        *_wrapped("decision  ", frame.reason, width=100, lines=3),
    ]


def _wrapped(label: str, text: str, width: int, lines: int) -> list[str]:
    """`text` over exactly `lines` lines (so the panel keeps its height), the last one cut."""
    wrapped = textwrap.wrap(text, width) or [""]
    if len(wrapped) > lines:
        wrapped = [*wrapped[: lines - 1], _shorten(" ".join(wrapped[lines - 1 :]), width)]
    wrapped += [""] * (lines - len(wrapped))
    return [(label if i == 0 else " " * len(label)) + line for i, line in enumerate(wrapped)]


def _line(frame: Frame) -> str:
    """A line of piped output: whole, however long (a pipe or a log has no width)."""
    return (
        f"{_clock(frame.now)}  publish {frame.publish_rate:6.1f}/s  backlog {frame.backlog:7.0f}"
        f"  replicas {frame.requested:3d} ({frame.ready} ready)  {frame.reason}"
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _serve(
    options: DemoOptions,
    registry: CollectorRegistry,
    health: Health,
    reporter: OutcomeRecorder,
    out: TextIO,
) -> ThreadingHTTPServer | None:
    """Serve /metrics and friends; a port already in use is reported, not fatal."""
    if not options.metrics_port:
        return None
    try:
        return serve(
            options.metrics_address, options.metrics_port, registry, health,
            lambda: status_document(reporter.last_report),
        )  # fmt: skip
    except OSError as exc:
        print(
            f"qscaler demo: not serving metrics on {options.metrics_address}:"
            f"{options.metrics_port} ({exc.strerror}); use --metrics-port to pick another "
            "port, or 0 for none",
            file=out,
        )
        return None


def _banner(options: DemoOptions, server: ThreadingHTTPServer | None) -> str:
    pace = "as fast as possible" if options.speed <= 0 else f"{options.speed:g}x real time"
    host = "localhost" if options.metrics_address in _ANY_ADDRESS else options.metrics_address
    where = f"; metrics on http://{host}:{server.server_port}/metrics" if server else ""
    return f"qscaler demo: trace {options.trace.name} ({_clock(len(options.trace))}), {pace}{where}"


def _chart(options: DemoOptions, ours: Row, keda: Row, out: TextIO) -> Path | None:
    if options.chart is None:
        return None
    title = f"{options.trace.name}: qscaler and best-tuned KEDA ({keda.setting})"
    try:
        chart.draw(
            options.chart,
            chart.Line("qscaler", ours.result),
            chart.Line("KEDA", keda.result),
            title,
        )
    except ConfigError as exc:
        print(f"qscaler demo: no chart: {exc}", file=out)
        return None
    return options.chart


def _summary(trace: Trace, ours: Row, keda: Row, drawn: Path | None) -> str:
    rs, p95 = (
        _ratio(ours.scores.replica_seconds, keda.scores.replica_seconds),
        _ratio(ours.scores.p95_wait, keda.scores.p95_wait),
    )
    lines = [
        "",
        f"{trace.name}: {len(trace)} simulated seconds",
        scores_table([ours, keda]),
        f"qscaler / best-tuned KEDA: replica-seconds {rs}, p95 wait {p95}",
    ]
    if drawn is not None:
        lines.append(f"chart: {drawn}")
    return "\n".join(lines)


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"
