"""qscaler alongside a CPU HPA, with real CPU metrics.

kwok reports pod CPU (set per pod by `CpuLoad`), metrics-server serves it
through the aggregation layer, the real HPA controller sizes from it, and a
real `qscaler run` under deploy/'s RBAC moves the HPA's floor from a real
queue. Each scenario records the timeline (replicas, CPU-desired,
queue-desired, floor) and asserts on it. CPU values: every pod requests one
core and the HPA targets 50 %, so CPU wants ceil(total millicores / 500).

Set QSCALER_HPA_TIMELINE=DIR to keep the recorded timelines as JSON (the
chart in docs/hpa.md is drawn from one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from tests.e2e.conftest import ENABLED, StartQscaler, consumer_annotations
from tests.harness.cpu import CpuLoad, HpaTimeline, Sample, cpu_deployment, cpu_hpa
from tests.harness.k8s import ControlPlane, wait_for
from tests.harness.qscaler_process import QscalerProcess
from tests.harness.rabbitmq import Broker

pytestmark = [
    pytest.mark.k8s,
    pytest.mark.rabbitmq,
    pytest.mark.slow,
    pytest.mark.rabbitmq_versions("3.10.8"),  # the HPA's side does not depend on the broker
]

#: Metrics move every 10 s (metrics-server's minimum resolution) and the HPA
#: needs two scrapes of a new pod: CPU-driven changes take tens of seconds.
CPU_WAIT = 180.0


def _save_to(name: str) -> Path | None:
    directory = os.environ.get("QSCALER_HPA_TIMELINE")
    return Path(directory) / f"{name}.json" if directory else None


def _desired(qscaler: QscalerProcess, namespace: str) -> float | None:
    """What the queue asks for, before qscaler's cooldown and the HPA's cap."""
    return qscaler.metric("qscaler_replicas_recommended", **_labels(namespace))


def _keep_story(plane: ControlPlane, namespace: str, name: str) -> None:
    """With QSCALER_HPA_TIMELINE, save `kubectl describe hpa` and the workload's
    Events (qscaler's) for docs/hpa.md."""
    save_to = _save_to(name)
    if save_to is None:
        return
    describe = plane.kubectl("describe", "hpa", "worker", "-n", namespace)
    events = plane.kubectl(
        "get", "events", "-n", namespace, "--field-selector=involvedObject.kind=Deployment",
        "--sort-by=.lastTimestamp", "-o",
        "custom-columns=TYPE:.type,REASON:.reason,COUNT:.count,MESSAGE:.message",
    )  # fmt: skip
    save_to.with_suffix(".txt").write_text(f"{describe}\n{events}")


def _labels(namespace: str) -> dict[str, str]:
    return {"namespace": namespace, "workload": "worker", "kind": "Deployment"}


def _until(
    timeline: HpaTimeline, what: str, check: Callable[[Sample], bool], timeout: float = CPU_WAIT
) -> Sample:
    """Wait until the latest timeline sample satisfies `check`."""
    assert callable(check)
    found = wait_for(
        what,
        lambda: (s := timeline.last()) is not None and check(s) and s,
        timeout=timeout,
        interval=0.5,
    )
    return cast(Sample, found)  # the only truthy value of the `and` chain is its last, `s`


def _condition(plane: ControlPlane, namespace: str, kind: str) -> dict[str, str]:
    status = plane.read_hpa(namespace, "worker").get("status") or {}
    for condition in status.get("conditions") or []:
        if condition["type"] == kind:
            return dict(condition)
    return {}


def test_the_hpa_runs_the_larger_of_cpu_and_queue_demand(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """One workload through five phases: CPU above the queue, the queue above
    CPU, CPU rising to the HPA's max over a held floor, the queue above the
    HPA's max (CappedByHpaMax), then both falling back to the original floor
    through the HPA's own scale-down stabilization."""
    broker.declare_queues(vhost, "work")
    annotations = consumer_annotations(vhost, "work", min_replicas="1", max_replicas="20")
    cpu_deployment(control_plane, namespace, "worker", 1, annotations, ENABLED)
    cpu_hpa(control_plane, namespace, "worker", "worker", 1, 12, scale_down_window=15)
    load = CpuLoad(control_plane, namespace, "worker", millicores=2900)  # CPU wants 6
    qscaler = start_qscaler()
    timeline = HpaTimeline(control_plane, namespace, "worker", lambda: _desired(qscaler, namespace))
    try:
        # 1. CPU above queue: the queue's floor of 2 changes nothing.
        broker.publish(vhost, "work", 20)  # the queue wants 2
        _until(
            timeline, "CPU to run 6 over a floor of 2", lambda s: (s.replicas, s.floor) == (6, 2)
        )
        cpu_phase = len(timeline.samples)

        # 2. Queue above CPU: the floor rises to 8 while CPU wants 3.
        load.set(1400)
        broker.publish(vhost, "work", 60)  # 80: the queue wants 8
        _until(timeline, "8 replicas on a floor of 8", lambda s: (s.replicas, s.floor) == (8, 8))
        _until(timeline, "CPU to want 3 under the floor", lambda s: s.cpu_desired == 3)
        queue_phase = len(timeline.samples)

        # 3. CPU rises while the floor is held: the HPA goes above it, to its max.
        load.set(7000)  # CPU wants 14; the HPA's max is 12
        _until(timeline, "CPU to take 12 replicas over a floor of 8", lambda s: s.replicas == 12)
        assert _condition(control_plane, namespace, "ScalingLimited").get("reason") == (
            "TooManyReplicas"
        )

        # 4. Queue demand above the HPA's max: the floor is capped, and says so.
        broker.publish(vhost, "work", 80)  # 160: the queue wants 16
        _until(timeline, "the floor capped at the HPA's max", lambda s: s.floor == 12)
        wait_for(
            "the CappedByHpaMax hold",
            lambda: (
                qscaler.metric("qscaler_held_back", **_labels(namespace), reason="CappedByHpaMax")
                == 1
            ),
        )
        wait_for(  # the Event is written after the write it reports
            "a ScaleUp Event naming CappedByHpaMax",
            lambda: [
                e["message"]
                for e in control_plane.events_by_reason(namespace, "worker").get("ScaleUp", [])
                if "CappedByHpaMax" in e["message"]
            ],
            timeout=30,
        )
        _keep_story(control_plane, namespace, "capped")

        # 5. Both fall: back to the original floor, through the HPA's stabilization.
        fell = time.monotonic()
        load.set(300)
        assert broker.consume(vhost, "work", 160) == 160
        _until(timeline, "the original floor restored", lambda s: s.floor == 1)
        restored = time.monotonic(), len(timeline.samples)
        _until(timeline, "back to 1 replica", lambda s: s.replicas == 1)
        settled = time.monotonic()
        _keep_story(control_plane, namespace, "fallen")
    finally:
        load.stop()
        samples = timeline.stop(_save_to("cpu-and-queue"))
    annotations_left = control_plane.read_hpa(namespace, "worker")["metadata"].get("annotations")
    assert not any(k.startswith("qscaler.io/") for k in annotations_left or {})
    # qscaler's floor never went above what the queue asked for in phase 1, and
    # the replicas never fell below CPU's 6 once there.
    phase1 = samples[:cpu_phase]
    assert max(s.floor for s in phase1) == 2
    at_six = [i for i, s in enumerate(samples) if s.replicas == 6]
    assert all(s.replicas >= 6 for s in samples[at_six[0] : queue_phase])
    # The scale-down was the HPA's, through its stabilization window: qscaler
    # wrote no replicas, and the HPA reported holding the higher count.
    managers = {
        m["manager"]
        for m in control_plane.read_deployment(namespace, "worker")["metadata"]["managedFields"]
    }
    assert "qscaler" not in managers
    assert "ScaleDownStabilized" in {s.able_to_scale for s in samples[restored[1] :]}
    print(
        f"\nboth fell: floor restored after {restored[0] - fell:.1f}s, "
        f"1 replica after {settled - fell:.1f}s (HPA scale-down window 15 s)"
    )


def test_from_zero_qscaler_wakes_it_and_then_cpu_leads(
    control_plane: ControlPlane,
    broker: Broker,
    vhost: str,
    namespace: str,
    start_qscaler: StartQscaler,
) -> None:
    """min-replicas 0 with an HPA: at 0 the HPA parks itself (ScalingDisabled);
    messages wake the workload to the queue's count, then CPU takes it higher."""
    broker.declare_queues(vhost, "work")
    annotations = consumer_annotations(vhost, "work", min_replicas="0", max_replicas="10")
    cpu_deployment(control_plane, namespace, "worker", 0, annotations, ENABLED)
    cpu_hpa(control_plane, namespace, "worker", "worker", 1, 10)
    qscaler = start_qscaler()
    wait_for(
        "the HPA to park at 0",
        lambda: (
            _condition(control_plane, namespace, "ScalingActive").get("reason") == "ScalingDisabled"
        ),
        timeout=60,
    )
    load = CpuLoad(control_plane, namespace, "worker", millicores=2400)  # CPU wants 5
    timeline = HpaTimeline(control_plane, namespace, "worker", lambda: _desired(qscaler, namespace))
    try:
        broker.publish(vhost, "work", 20)  # the queue wants 2
        _until(timeline, "woken to 2", lambda s: s.replicas >= 2, timeout=60)
        control_plane.await_events(namespace, "worker", "ScaleFromZero", timeout=30)
        _until(timeline, "CPU to lead to 5", lambda s: (s.replicas, s.floor) == (5, 2))
    finally:
        load.stop()
        timeline.stop(_save_to("from-zero"))
