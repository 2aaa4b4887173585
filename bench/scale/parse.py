"""Parse cost of one `/metrics/detailed` answer: qscaler's parser against prometheus-client's.

    .venv/bin/python -m bench.scale.parse --queues 200,2000,20000

The answer is built line for line in the shape a RabbitMQ node sends for the
families the Prometheus source asks for (the shape of the recorded 3.10.8
answer in tests/fixtures/rabbitmq/3.10.8/prometheus-detailed.txt: four
queue_coarse_metrics series and one consumer count per queue, and on 3.10 one
consuming and one publishing channel per queue, seven channel_queue_metrics
series and one published series; on 4.x the per-queue families instead),
with `rabbitmq_build_info` and `rabbitmq_identity_info` last, where a node
writes them.
Prints the body size and the median CPU time of five parses each way
(`client ms`: prometheus-client's `text_string_to_metric_families`). Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from qscaler.sources.prometheus_text import parse_exposition

HEAD = (
    'rabbitmq_build_info{rabbitmq_version="3.10.8",erlang_version="25.2.3"} 1\n'
    'rabbitmq_identity_info{rabbitmq_node="rabbit@bench",rabbitmq_cluster="bench"} 1\n'
)
COARSE = ("messages_ready", "messages_unacked", "messages", "process_reductions_total")
CHANNEL = (
    "get_ack_total", "get_total", "messages_delivered_ack_total", "messages_delivered_total",
    "messages_redelivered_total", "messages_acked_total", "get_empty_total",
)  # fmt: skip
DELIVERY = (
    "get_ack_total", "get_total", "messages_delivered_ack_total", "messages_delivered_total",
    "messages_redelivered_total", "messages_acked_total", "get_empty_total",
)  # fmt: skip


def body(queues: int, per_queue_families: bool) -> str:
    """One vhost's answer for `queues` queues."""
    names = [f"jobs-{i:05d}" for i in range(queues)]
    out = []
    for metric in COARSE:
        out.append(f"# TYPE rabbitmq_detailed_queue_{metric} gauge\n")
        out += [f'rabbitmq_detailed_queue_{metric}{{vhost="v",queue="{n}"}} 12\n' for n in names]
    out.append("# TYPE rabbitmq_detailed_queue_consumers gauge\n")
    out += [f'rabbitmq_detailed_queue_consumers{{vhost="v",queue="{n}"}} 1\n' for n in names]
    if per_queue_families:
        for metric in DELIVERY:
            out.append(f"# TYPE rabbitmq_detailed_queue_{metric} counter\n")
            out += [
                f'rabbitmq_detailed_queue_{metric}{{vhost="v",queue="{n}"}} 345\n' for n in names
            ]
        out.append("# TYPE rabbitmq_detailed_queue_exchange_messages_published_total counter\n")
        line = 'rabbitmq_detailed_queue_exchange_messages_published_total{{vhost="v",exchange="",queue="{}"}} 678\n'  # noqa: E501
        out += [line.format(n) for n in names]
        return "".join(out) + HEAD
    for metric in CHANNEL:
        out.append(f"# TYPE rabbitmq_detailed_channel_{metric} counter\n")
        out += [
            f'rabbitmq_detailed_channel_{metric}{{channel="<0.{i}.0>",vhost="v",queue="{n}"}} 345\n'
            for i, n in enumerate(names)
        ]
    out.append("# TYPE rabbitmq_detailed_queue_messages_published_total counter\n")
    out += [
        f'rabbitmq_detailed_queue_messages_published_total{{channel="<1.{i}.0>",queue_vhost="v",'
        f'queue="{n}",exchange_vhost="v",exchange=""}} 678\n'
        for i, n in enumerate(names)
    ]
    return "".join(out) + HEAD


def cpu_ms(work: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queues", default="200,2000,20000")
    args = parser.parse_args()
    print(f"{'queues':>7} {'families':>10} {'body MB':>8} {'qscaler ms':>11} {'client ms':>10}")
    for queues in (int(q) for q in args.queues.split(",")):
        for per_queue in (False, True):
            text = body(queues, per_queue)
            ours = cpu_ms(functools.partial(parse_exposition, text, "v", "bench"))
            theirs = cpu_ms(functools.partial(_client_parse, text))
            label = "4.x" if per_queue else "3.10"
            size = len(text) / 1e6
            print(f"{queues:7d} {label:>10} {size:8.2f} {ours:11.0f} {theirs:10.0f}", flush=True)


def _client_parse(text: str) -> list[object]:
    return [list(family.samples) for family in text_string_to_metric_families(text)]


if __name__ == "__main__":
    main()
