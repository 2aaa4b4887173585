"""The scaling benchmark's simulator (docs/benchmark-model.md, model v1.2).

A deterministic, second-by-second model of a RabbitMQ queue and a Kubernetes
workload, the controllers qscaler is compared with, and the scores of the
comparison. Pure Python and exact: the same trace, scenario and controller
always give the same numbers, fast enough to tune every competitor over a
grid for every trace.

    trace.py        load and validate a publish-rate trace
    queue.py        FIFO fluid queue with per-second wait accounting
    replicas.py     replicas requested, ready after start-up, newest removed first
    world.py        the world of §2 and the stale management-stats view of it
    controllers.py  the Controller protocol; keda, onfido and static
    run.py          one controller over one trace
    scores.py       the scores of §4
    tuning.py       best-tuned selection over the grid
    qscaler_controller.py  qscaler's real control loop on a simulated broker and cluster
    bench.py        every contender of the benchmark on one trace
    policy_file.py  qscaler annotations from a YAML file; the default policy
    report.py       Markdown and terminal tables of the results
    chart.py        a run (and a competitor's) over time, with matplotlib
    demo.py         `qscaler demo`: the live loop, in fast time, with a terminal view
    cli.py          the simulate, bench and demo commands
"""

from qscaler.sim.controllers import Bounds, Controller, Keda, Onfido, Static, static_replicas
from qscaler.sim.run import run, run_static
from qscaler.sim.scores import Scores, score
from qscaler.sim.trace import Trace, load_trace, parse_trace
from qscaler.sim.tuning import GRID, Trial, Tuned, best_tuned
from qscaler.sim.world import RunResult, ScaleChange, Scenario, StatsSnapshot, World

__all__ = [
    "GRID",
    "Bounds",
    "Controller",
    "Keda",
    "Onfido",
    "RunResult",
    "ScaleChange",
    "Scenario",
    "Scores",
    "Static",
    "StatsSnapshot",
    "Trace",
    "Trial",
    "Tuned",
    "World",
    "best_tuned",
    "load_trace",
    "parse_trace",
    "run",
    "run_static",
    "score",
    "static_replicas",
]
