"""A ScaledObject's rabbitmq modes and values → qscaler's sizing annotations.

KEDA sizes each trigger on its own and the HPA takes the largest count:
`ceil(messages / value)` for QueueLength, `ceil(publish rate / value)` for
MessageRate. qscaler has two sizing modes per workload:

* backlog: `messages-per-replica`, the same `ceil(messages / value)`;
* rate-aware: `target-drain-seconds T`, enough replicas for the publish rate
  at a per-replica throughput qscaler learns from the ack rate, plus what
  drains the backlog within T. A MessageRate value v (messages per second one
  replica handles) also gives a floor that holds before anything is learned:
  one replica at v msg/s clears v·T messages in T seconds, so
  `messages-per-replica v·T`.
"""

from __future__ import annotations

from qscaler.core import annotations as ann
from qscaler.importer.keda_trigger import (
    DELIVER_GET_RATE,
    EXPECTED_CONSUMPTION_TIME,
    MESSAGE_RATE,
    PUBLISHED_TO_DELIVERED,
    QUEUE_LENGTH,
    RabbitTrigger,
)

#: The drain time the importer picks for rate modes, which have none of their own.
DRAIN_SECONDS = 60.0
_COUNTS_MESSAGES = (QUEUE_LENGTH, MESSAGE_RATE)


def size(
    triggers: list[RabbitTrigger], annotations: dict[str, str], carried: list[str], lost: list[str]
) -> None:
    """Add messages-per-replica / target-drain-seconds / activation-messages."""
    per_replica: list[float] = []
    drains: list[float] = []
    for t in triggers:
        _one(t, per_replica, drains, carried, lost)
    for key, values in (
        (ann.MESSAGES_PER_REPLICA, per_replica),
        (ann.TARGET_DRAIN_SECONDS, drains),
    ):
        if values:
            annotations[key] = f"{min(values):g}"
        if len(set(values)) > 1:  # the most replicas: never fewer than KEDA's largest count
            listed = ", ".join(f"{v:g}" for v in values)
            carried.append(f"{key.removeprefix(ann.PREFIX)} {min(values):g}: the least of {listed}")
    _activation(triggers, annotations, carried, lost)


def _one(
    t: RabbitTrigger,
    per_replica: list[float],
    drains: list[float],
    carried: list[str],
    lost: list[str],
) -> None:
    where = f"trigger {t.index}"
    if t.mode == QUEUE_LENGTH:
        per_replica.append(t.value)
        carried.append(
            f"{where} QueueLength value {t.value:g} → messages-per-replica {t.value:g}: "
            f"ceil(messages / {t.value:g}) replicas, as KEDA's HPA computes"
        )
    elif t.mode in (MESSAGE_RATE, DELIVER_GET_RATE):
        floor = t.value * DRAIN_SECONDS
        per_replica.append(floor)
        drains.append(DRAIN_SECONDS)
        carried.append(
            f"{where} {t.mode} value {t.value:g} msg/s per replica → target-drain-seconds "
            f"{DRAIN_SECONDS:g} (rate-aware: replicas = (publish rate + backlog beyond the "
            f"standing queue / {DRAIN_SECONDS:g}s) / learned per-replica throughput) and "
            f"messages-per-replica {t.value:g} × {DRAIN_SECONDS:g} = {floor:g} as a floor "
            f"(what one replica at {t.value:g} msg/s clears in {DRAIN_SECONDS:g} s)"
        )
        if t.mode == DELIVER_GET_RATE:
            lost.append(
                f"{where} mode DeliverGetRate: the delivery rate follows the consumers, not "
                "the demand; qscaler sizes from the publish rate instead"
            )
    elif t.mode == EXPECTED_CONSUMPTION_TIME:
        drains.append(t.value)
        carried.append(
            f"{where} ExpectedQueueConsumptionTime value {t.value:g}s → target-drain-seconds "
            f"{t.value:g}: enough replicas to consume the queue within that time"
        )
    elif t.mode == PUBLISHED_TO_DELIVERED:
        drains.append(DRAIN_SECONDS)
        lost.append(
            f"{where} mode PublishedToDeliveredRatio value {t.value:g}: qscaler compares the "
            "publish rate with learned throughput instead (rate-aware, target-drain-seconds "
            f"{DRAIN_SECONDS:g})"
        )
    if t.metric_type == "Value" and t.mode in _COUNTS_MESSAGES:
        lost.append(
            f"{where} metricType Value: KEDA compared the total with value × ready pods; "
            "qscaler sizes per replica (AverageValue's arithmetic), check the value"
        )


def _activation(
    triggers: list[RabbitTrigger], annotations: dict[str, str], carried: list[str], lost: list[str]
) -> None:
    counted = [t for t in triggers if t.mode in _COUNTS_MESSAGES]
    for t in triggers:
        if t.mode not in _COUNTS_MESSAGES and t.activation:
            lost.append(
                f"trigger {t.index} activationValue {t.activation:g} of mode {t.mode} is not a "
                "message count: not carried (any message wakes the workload)"
            )
        if t.mode == MESSAGE_RATE and t.activation:
            lost.append(
                f"trigger {t.index} activationValue {t.activation:g}: carried as a message "
                "count; KEDA also woke on a publish rate above it, qscaler on messages only"
            )
    if not counted:
        return
    threshold = min(t.activation for t in counted)
    if threshold:
        annotations[ann.ACTIVATION_MESSAGES] = f"{threshold:g}"
        carried.append(
            f"activation-messages {threshold:g} from activationValue (the lowest of the "
            "triggers: KEDA wakes when any trigger is active)"
        )
