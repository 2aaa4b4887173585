"""The simulator's commands: `qscaler simulate`, `qscaler bench` and `qscaler demo`.

    qscaler simulate TRACE.csv   one controller over one trace: scores (table or JSON), a chart
    qscaler bench TRACES_DIR     every contender over every trace: the Markdown comparison
    qscaler demo                 the real loop against a simulated world, live, in fast time

`qscaler.cli` registers these when this module is importable. Policies are
files of qscaler annotations (`qscaler.sim.policy_file`); without one, the
benchmark's default policy is used. Errors in what the user wrote (a trace,
a policy, a scenario value) are `ConfigError`s: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from qscaler.core.annotations import MAX_REPLICAS, MIN_REPLICAS, PREFIX
from qscaler.errors import ConfigError
from qscaler.settings import load_settings
from qscaler.sim import chart
from qscaler.sim.bench import Comparison, KedaOptions, Kind, compare, simulate
from qscaler.sim.controllers import KEDA_POLLING_SECONDS, Bounds, KedaMode
from qscaler.sim.demo import DemoOptions, default_trace, run_demo
from qscaler.sim.pareto import draw_pareto
from qscaler.sim.policy_file import load_policy
from qscaler.sim.report import markdown, scores_table, write_markdown
from qscaler.sim.scenario_file import load_scenario
from qscaler.sim.trace import load_trace
from qscaler.sim.world import Scenario

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


#: Scenario values `simulate` takes as flags (over the trace's scenario file).
_SCENARIO_FLAGS = (
    "service_rate", "startup_seconds", "initial_replicas", "stats_interval", "slo_seconds",
    "score_from",
)  # fmt: skip


def register(sub: Subparsers) -> None:
    """Add simulate, bench and demo to the `qscaler` command line."""
    _simulate_parser(sub)
    _bench_parser(sub)
    _demo_parser(sub)


def _simulate_parser(sub: Subparsers) -> None:
    p = sub.add_parser("simulate", help="run one controller over a trace and print its scores")
    p.add_argument("trace", type=Path, metavar="TRACE.csv", help="CSV with header t,publish_rate")
    _policy_flag(p)
    p.add_argument(
        "--controller", choices=[k.value for k in Kind], default=Kind.QSCALER.value,
        help="which controller to simulate (default: qscaler)",
    )  # fmt: skip
    p.add_argument(
        "--param", type=int, metavar="N",
        help="keda's value or onfido's mesgPerPod (default: best of the benchmark's grid)",
    )  # fmt: skip
    p.add_argument(
        "--keda-mode", choices=[m.value for m in KedaMode], default=KedaMode.QUEUE_LENGTH.value,
        help="keda's trigger: queue depth or publish rate (default QueueLength)",
    )  # fmt: skip
    p.add_argument(
        "--keda-window", type=int, metavar="SECONDS",
        help="the HPA's scale-down stabilization window, written as an HPA behavior "
        "(default: none written, the HPA's 300 s)",
    )  # fmt: skip
    p.add_argument(
        "--keda-polling", type=int, default=KEDA_POLLING_SECONDS, metavar="SECONDS",
        help=f"keda's pollingInterval (default {KEDA_POLLING_SECONDS})",
    )  # fmt: skip
    defaults, bounds = Scenario(), Bounds()
    for name in _SCENARIO_FLAGS:
        kind = type(getattr(defaults, name))
        p.add_argument(
            "--" + name.replace("_", "-"), type=kind, metavar="N",
            help=f"(default: the trace's NAME.scenario.yaml, else {getattr(defaults, name):g})",
        )  # fmt: skip
    p.add_argument(
        "--min-replicas", type=int,
        help=f"default: the policy's min-replicas, else {bounds.min_replicas}",
    )  # fmt: skip
    p.add_argument(
        "--max-replicas", type=int,
        help=f"default: the policy's max-replicas, else {bounds.max_replicas}",
    )  # fmt: skip
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.add_argument("--chart", type=Path, metavar="FILE", help="draw the run to a .png or .svg")
    p.add_argument(
        "--compare", choices=[k.value for k in Kind if k is not Kind.QSCALER],
        help="also draw this controller (best-tuned) on the chart's axes",
    )  # fmt: skip
    p.set_defaults(command=cmd_simulate)


def _bench_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "bench", help="compare qscaler with KEDA, the bash autoscaler and static, per trace"
    )
    p.add_argument("traces", type=Path, metavar="TRACES_DIR", help="a folder of trace CSVs")
    _policy_flag(p)
    p.add_argument(
        "--output", type=Path, metavar="FILE.md",
        help="write the tables there (between its bench markers, if it has them)",
    )  # fmt: skip
    p.add_argument("--charts", type=Path, metavar="DIR", help="write one chart per trace there")
    p.set_defaults(command=cmd_bench)


def _demo_parser(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo", help="watch the real control loop scale a simulated workload, in fast time"
    )
    p.add_argument(
        "--trace", type=Path, metavar="TRACE.csv",
        help="publish-rate trace to play (default: a one-hour trace shipped with qscaler)",
    )  # fmt: skip
    _policy_flag(p)
    p.add_argument(
        "--speed", type=float, default=60.0,
        help="simulated seconds per real second (default 60; 0: as fast as possible)",
    )  # fmt: skip
    p.add_argument(
        "--chart", type=Path, default=Path("qscaler-demo.png"), metavar="FILE",
        help="where to draw the run (.png or .svg; default qscaler-demo.png)",
    )  # fmt: skip
    p.add_argument("--no-chart", action="store_true", help="do not draw a chart")
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics, /healthz, /readyz, /status here while running "
        "(default: QSCALER_METRICS_PORT, 8080; 0: do not serve)",
    )
    p.set_defaults(command=cmd_demo)


def _policy_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy", type=Path, metavar="POLICY.yaml",
        help="qscaler annotations, with or without the qscaler.io/ prefix "
        "(default: the benchmark's default policy, bench/policy.yaml)",
    )  # fmt: skip


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate one controller and print its scores."""
    trace = load_trace(args.trace)
    scenario = load_scenario(args.trace, {n: getattr(args, n) for n in _SCENARIO_FLAGS})
    policy = load_policy(args.policy)
    bounds = policy_bounds(policy, args.min_replicas, args.max_replicas, args.policy)
    name = _policy_name(args.policy)
    keda = KedaOptions(KedaMode(args.keda_mode), args.keda_window, args.keda_polling)
    if args.keda_window is not None or args.keda_polling != KEDA_POLLING_SECONDS:
        keda.knobs(1)  # checks the values before anything runs
    row = simulate(Kind(args.controller), trace, scenario, bounds, policy, args.param, name, keda)
    if args.chart is not None:
        other = None
        if args.compare is not None:
            rival = simulate(Kind(args.compare), trace, scenario, bounds, policy)
            other = chart.Line(f"{rival.controller} ({rival.setting})", rival.result)
        chart.draw(args.chart, chart.Line(f"{row.controller} ({row.setting})", row.result), other)
    if args.output == "json":
        print(json.dumps(row.scores.as_dict()))
    else:
        print(f"{trace.name}: {len(trace)} s, {row.controller} with {row.setting}")
        print(scores_table([row]))
    return 0


def policy_bounds(
    policy: Mapping[str, str], min_flag: int | None, max_flag: int | None, path: Path | None
) -> Bounds:
    """The comparison's bounds: a flag when given, else the policy file's, else the default.

    A policy's `max-replicas: 10` must bound the run it describes; the flags
    exist to try other bounds without editing the file.
    """
    default = Bounds()
    return Bounds(
        _bound(min_flag, policy.get(MIN_REPLICAS), default.min_replicas, "min-replicas", path),
        _bound(max_flag, policy.get(MAX_REPLICAS), default.max_replicas, "max-replicas", path),
    )


def _bound(
    flag: int | None, written: str | None, default: int, name: str, path: Path | None
) -> int:
    if flag is not None:
        return flag
    if written is None:
        return default
    if not written.strip().isdigit():
        raise ConfigError(f"{path}: {PREFIX}{name} {written!r} is not a whole number of replicas")
    return int(written)


def _policy_name(path: Path | None) -> str:
    return "default policy" if path is None else f"policy {path.as_posix()}"


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark over a folder of traces and print (and write) the comparison."""
    paths = sorted(args.traces.glob("*.csv")) if args.traces.is_dir() else []
    if not paths:
        raise ConfigError(f"{args.traces}: no *.csv traces found")
    policy = load_policy(args.policy)
    name = _policy_name(args.policy)
    comparisons = [compare(load_trace(p), load_scenario(p), Bounds(), policy, name) for p in paths]
    charts = _bench_charts(comparisons, args.charts, args.output) if args.charts else None
    pareto = _pareto_chart(comparisons, args.charts, args.output) if args.charts else None
    document = markdown(comparisons, charts, pareto)
    print(document)
    if args.output is not None:
        write_markdown(args.output, document)
    return 0


def _bench_charts(
    comparisons: list[Comparison], folder: Path, output: Path | None
) -> dict[str, str]:
    """One chart per trace; the links are relative to the Markdown file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {folder}: {exc}") from exc
    links = {}
    for c in comparisons:
        path = folder / f"{c.trace.name}.png"
        chart.draw(
            path,
            chart.Line("qscaler", c.qscaler.result),
            chart.Line("KEDA", c.keda.result),
            f"{c.trace.name}: qscaler ({c.qscaler.setting}) and KEDA ({c.keda.setting})",
        )
        base = output.parent if output is not None else Path.cwd()
        links[c.trace.name] = Path(os.path.relpath(path, base)).as_posix()
    return links


def _pareto_chart(comparisons: list[Comparison], folder: Path, output: Path | None) -> str:
    """Every KEDA configuration and qscaler, one panel per trace; the link for the Markdown."""
    path = folder / "pareto.png"
    draw_pareto(path, comparisons)
    base = output.parent if output is not None else Path.cwd()
    return Path(os.path.relpath(path, base)).as_posix()


def cmd_demo(args: argparse.Namespace) -> int:
    """Play a trace through the real loop, live."""
    settings = load_settings()
    policy = load_policy(args.policy)
    options = DemoOptions(
        trace=load_trace(args.trace) if args.trace is not None else default_trace(),
        policy=policy,
        bounds=policy_bounds(policy, None, None, args.policy),
        policy_name=_policy_name(args.policy),
        speed=max(0.0, args.speed),
        chart=None if args.no_chart else args.chart,
        metrics_address=settings.metrics_address,
        metrics_port=settings.metrics_port if args.metrics_port is None else args.metrics_port,
    )
    if not 0 <= options.metrics_port <= 65535:
        raise ConfigError(f"--metrics-port {options.metrics_port}: must be 0 to 65535")
    run_demo(options, sys.stdout, tty=sys.stdout.isatty())
    return 0
