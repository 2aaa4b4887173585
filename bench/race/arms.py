"""One trace's race: a qscaler arm and a KEDA arm under the very same load.

Each arm is a Deployment of kwok pods, its own queue and a set of emulated
consumers that follow the Deployment's Ready pods. One publisher writes every
message of the trace cut into both queues, so the two arms see identical
arrivals. qscaler scales its Deployment through the label and annotations a
user writes; KEDA through a ScaledObject with the configuration under test.
Both start from one ready replica at second 0, as the simulator's scenario
does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from bench.race.emulator import Clock, FollowingConsumers, Publisher, WaitBook
from bench.race.keda import scaled_object
from bench.race.score import ArmScores, ReplicaSampler, score_arm
from tests.harness.k8s import ControlPlane, wait_for
from tests.harness.rabbitmq import Broker

ARMS = ("qscaler", "keda")


@dataclass(frozen=True, slots=True)
class Scenario:
    """What both arms share: the benchmark scenario's workload figures."""

    service_rate: float = 10.0
    startup_seconds: int = 30
    slo_seconds: float = 60.0


@dataclass
class Race:
    """The two arms of one trace cut, from set-up to scores."""

    plane: ControlPlane
    broker: Broker
    trace: str
    rates: Sequence[float]
    scenario: Scenario
    qscaler_annotations: Mapping[str, str]
    keda_config: Mapping[str, Any] | None
    namespace: str = ""
    books: dict[str, WaitBook] = field(default_factory=dict)
    consumers: dict[str, FollowingConsumers] = field(default_factory=dict)
    samplers: dict[str, ReplicaSampler] = field(default_factory=dict)

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms raced: both, or qscaler alone when there is no KEDA configuration."""
        return ARMS if self.keda_config is not None else ("qscaler",)

    def prepare(self) -> None:
        """Namespace, vhost, queues and one Ready pod per arm; nothing scales yet."""
        self.namespace = self.plane.namespace(f"race-{self.trace}")
        self.broker.create_vhost(self.namespace)
        self.broker.declare_queues(self.namespace, *self.arms)
        for arm in self.arms:
            self.plane.deployment(self.namespace, arm, replicas=1)
        for arm in self.arms:

            def one_ready_pod(a: str = arm) -> bool:
                return self.plane.ready_pods(self.namespace, a) == 1

            wait_for(f"{self.trace}/{arm} to have one Ready pod", one_ready_pod, timeout=120)

    def start(self, clock: Clock, connect: Callable[[str, str], Any]) -> Publisher:
        """Hand both Deployments to their scalers and start the load (at second 0)."""
        seconds = len(self.rates)
        for arm in self.arms:
            book = self.books[arm] = WaitBook(seconds)
            following = FollowingConsumers(
                core=self.plane.core(),
                namespace=self.namespace,
                app=arm,
                connect=lambda name: connect(self.namespace, name),
                queue=arm,
                book=book,
                clock=clock,
                service_rate=self.scenario.service_rate,
                startup_seconds=self.scenario.startup_seconds,
            )
            following.adopt(self._pod_names(arm))
            self.consumers[arm] = following
            self.samplers[arm] = ReplicaSampler(
                self.plane.apps(), self.namespace, arm, clock, seconds
            )
        self._hand_over()
        publisher = Publisher(
            lambda name: connect(self.namespace, name),
            [(arm, self.books[arm]) for arm in self.arms],
            self.rates,
            clock,
        )
        for thread in (*self.consumers.values(), *self.samplers.values(), publisher):
            thread.start()
        return publisher

    def finish(self) -> dict[str, ArmScores]:
        """Wait for the samplers (the cut's last second), stop consumers, score both arms."""
        for sampler in self.samplers.values():
            sampler.join()
        for following in self.consumers.values():
            following.stop()
        for following in self.consumers.values():
            following.join(timeout=30)
            if following.error is not None:
                raise RuntimeError(f"{self.trace}: consumers failed: {following.error!r}")
        return {
            arm: score_arm(self.samplers[arm].replicas, self.books[arm], self.scenario.slo_seconds)
            for arm in self.arms
        }

    def replicas(self) -> dict[str, list[int]]:
        """Both arms' sampled spec.replicas, second by second (for charts)."""
        return {arm: list(sampler.replicas) for arm, sampler in self.samplers.items()}

    def tear_down(self) -> None:
        """Delete the namespace and the vhost (their scalers let go with them)."""
        self.plane.core().delete_namespace(self.namespace)
        self.broker.delete_vhost(self.namespace)

    def _pod_names(self, app: str) -> list[str]:
        pods = self.plane.core().list_namespaced_pod(self.namespace, label_selector=f"app={app}")
        return [p.metadata.name for p in pods.items]

    def _hand_over(self) -> None:
        patch = {
            "metadata": {
                "labels": {"qscaler.io/enabled": "true"},
                "annotations": {
                    "qscaler.io/queues": "qscaler",
                    "qscaler.io/vhost": self.namespace,
                    **self.qscaler_annotations,
                },
            }
        }
        self.plane.apps().patch_namespaced_deployment("qscaler", self.namespace, patch)
        if self.keda_config is None:
            return
        body = scaled_object(
            name="keda",
            namespace=self.namespace,
            deployment="keda",
            host=self._management_url(),
            queue="keda",
            config=self.keda_config,
        )
        client.CustomObjectsApi(self.plane.api()).create_namespaced_custom_object(
            "keda.sh", "v1alpha1", self.namespace, "scaledobjects", body
        )

    def _management_url(self) -> str:
        base = self.broker.mgmt_url.removeprefix("http://")
        user, password = self.broker.user, self.broker.password
        return f"http://{user}:{password}@{base}/{self.namespace}"
