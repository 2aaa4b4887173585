"""`make race`: qscaler against a live KEDA, in real time, next to the simulator's prediction.

    python -m bench.race.run [--traces steady,diurnal,spikes,onoff] [--start S]
                             [--seconds N] [--repeats 3] [--json FILE]

One RabbitMQ node (statistics every 5 s, as in production) and one control
plane (HPA sync 15 s and downscale stabilization 5 min, the production
defaults) serve every arm. Each trace cut gets a qscaler Deployment and a KEDA
Deployment on separate queues with identical publishing (bench/race/arms.py);
all traces of one repeat run at the same time. qscaler runs as `qscaler run`
with the benchmark's policy (bench/policy.yaml) written as annotations; KEDA
with its defaults plus the knobs the simulator found best for that cut.

It prints, per trace and arm, the live scores (median and min–max over the
repeats) beside the simulator's prediction for the same cut and the same
configuration. It is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pika

from bench.race import chart, keda, predict, report
from bench.race.arms import Race, Scenario
from bench.race.emulator import Clock
from qscaler.loadgen import load_rates
from tests.harness.k8s import ControlPlane
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "bench" / "traces"
#: Production HPA controller timings (the tests shorten them to 2 s and 10 s).
#: Where each trace's cut starts by default: a stretch where the load changes
#: (steady: the climb from one replica; diurnal: the morning rise; spikes: two
#: bursts; onoff: an off period, then the switch on).
CUT_STARTS = {"steady": 0, "diurnal": 600, "spikes": 450, "onoff": 750}
HPA_ENV = {
    "QSCALER_K8S_HPA_SYNC_PERIOD": "15s",
    "QSCALER_K8S_HPA_DOWNSCALE_STABILIZATION": "5m",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    scenario = Scenario()
    starts = {
        name: CUT_STARTS.get(name, 0) if args.start is None else args.start for name in args.traces
    }
    cuts = {name: _cut(name, starts[name], args.seconds) for name in args.traces}
    print(
        f"race: {len(cuts)} traces × {args.repeats} repeats × {args.seconds} s "
        "; choosing KEDA's configuration per cut …",
        flush=True,
    )
    keda_configs = {
        name: None if args.no_keda else predict.best_keda(rates, scenario)
        for name, rates in cuts.items()
    }
    annotations = predict.policy_annotations()
    predictions = {
        name: predict.simulate(rates, scenario, keda_configs[name]) for name, rates in cuts.items()
    }
    runs = _race(args, cuts, scenario, annotations, keda_configs)
    table = report.table(runs, predictions, keda_configs)
    print(table, flush=True)
    document = {
        "args": {
            "traces": args.traces,
            "starts": starts,
            "seconds": args.seconds,
            "repeats": args.repeats,
        },
        "keda": keda_configs,
        "predictions": predictions,
        "runs": runs,
    }
    if args.charts:
        args.charts.mkdir(parents=True, exist_ok=True)
        for name in cuts:
            chart.draw_trace(args.charts / f"race-{name}.png", name, document)
    if args.json:
        args.json.write_text(json.dumps(document, indent=1))
    return 0


def _race(
    args: argparse.Namespace,
    cuts: dict[str, list[float]],
    scenario: Scenario,
    annotations: dict[str, str],
    keda_configs: dict[str, dict[str, Any] | None],
) -> list[dict[str, Any]]:
    bin_dir = None if args.no_keda else keda.build()
    work = Path(tempfile.mkdtemp(prefix="qscaler-race-"))
    broker = Broker(work / "rabbitmq", settings={"QSCALER_RABBITMQ_STATS_INTERVAL_MS": "5000"})
    broker.start()
    os.environ.update(HPA_ENV)
    plane = ControlPlane.start(work / "k8s", nodes=2)
    live_keda = None if bin_dir is None else keda.Keda(plane, bin_dir, work / "keda")
    qscaler = QscalerProcess(
        work,
        "race",
        {
            "QSCALER_KUBECONFIG": str(plane.kubeconfig),
            "QSCALER_MANAGEMENT_URL": broker.mgmt_url,
            "QSCALER_USERNAME": broker.user,
            "QSCALER_PASSWORD": broker.password,
            "QSCALER_LEADER_ELECTION": "false",
        },
    )
    runs: list[dict[str, Any]] = []
    try:
        if live_keda is not None:
            live_keda.start()
        qscaler.start()
        for repeat in range(args.repeats):
            runs.extend(
                _one_repeat(repeat, plane, broker, cuts, scenario, annotations, keda_configs)
            )
    finally:
        qscaler.stop()
        if live_keda is not None:
            live_keda.stop()
        plane.stop()
        broker.stop()
    print(f"race: logs and work files in {work}", file=sys.stderr)
    return runs


def _one_repeat(
    repeat: int,
    plane: ControlPlane,
    broker: Broker,
    cuts: dict[str, list[float]],
    scenario: Scenario,
    annotations: dict[str, str],
    keda_configs: dict[str, dict[str, Any] | None],
) -> list[dict[str, Any]]:
    races = [
        Race(plane, broker, name, rates, scenario, annotations, keda_configs[name])
        for name, rates in cuts.items()
    ]
    for race in races:
        race.prepare()
    clock = Clock(start=time.time() + 3)
    connect = _connector(broker)
    publishers = [race.start(clock, connect) for race in races]
    print(f"race: repeat {repeat + 1} running", flush=True)
    for publisher in publishers:
        publisher.join()
        if publisher.error is not None:
            raise RuntimeError(f"publisher failed: {publisher.error!r}")
    out = []
    for race in races:
        scores = race.finish()
        for arm in race.arms:
            out.append(
                {
                    "trace": race.trace,
                    "arm": arm,
                    "repeat": repeat,
                    "scores": scores[arm].as_dict(),
                    "replicas": race.replicas()[arm],
                }
            )
        race.tear_down()
    return out


def _connector(broker: Broker) -> Callable[[str, str], Any]:
    host_port = broker.amqp_url.removeprefix("amqp://")
    host, port = host_port.rsplit(":", 1)
    credentials = pika.PlainCredentials(broker.user, broker.password)

    def connect(vhost: str, name: str) -> Any:
        return pika.BlockingConnection(
            pika.ConnectionParameters(
                host=host,
                port=int(port),
                virtual_host=vhost,
                credentials=credentials,
                client_properties={"connection_name": name},
                heartbeat=60,
            )
        )

    return connect


def _cut(name: str, start: int, seconds: int) -> list[float]:
    rates = list(load_rates(TRACES / f"{name}.csv"))
    cut = rates[start : start + seconds]
    if len(cut) < seconds:
        raise SystemExit(f"race: {name} has {len(rates)} s; cannot cut {seconds} s from {start}")
    return cut


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make race", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--traces", type=lambda s: s.split(","), default=["steady", "diurnal", "spikes", "onoff"]
    )
    p.add_argument(
        "--start", type=int, help="first second of every cut (default: a busy stretch per trace)"
    )
    p.add_argument("--seconds", type=int, default=600, help="length of each cut")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--no-keda",
        action="store_true",
        help="race qscaler alone against the simulator's prediction (no KEDA build needed)",
    )
    p.add_argument("--json", type=Path, help="write every run's scores and series here")
    p.add_argument("--charts", type=Path, help="draw one chart per trace into this folder")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
