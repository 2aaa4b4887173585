"""Annotations → Policy: valid input, every error message, hostile input."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qscaler.core import annotations as ann
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.core.policy import Aggregate, CountMode, Mode, Policy, StepLimit
from qscaler.errors import BindingError


def parse(**annotations: str) -> Policy:
    return parse_binding({ann.PREFIX + k.replace("_", "-"): v for k, v in annotations.items()})


def problems(**annotations: str) -> tuple[str, ...]:
    with pytest.raises(BindingError) as caught:
        parse(**annotations)
    return caught.value.problems


def test_defaults() -> None:
    p = parse(queues="orders", messages_per_replica="100")
    assert p.queues.vhost == "/"
    assert p.queues.names == ("orders",)
    assert (p.min_replicas, p.max_replicas, p.cooldown_seconds) == (1, 10, 300.0)
    assert (p.count, p.aggregate, p.mode) == (CountMode.ALL, Aggregate.SUM, Mode.ACTIVE)
    assert p.scale_up_limit is None
    assert p.scale_down_limit is None  # the cooldown is the brake, as the HPA's default
    assert p.activation_messages == 0
    assert p.fallback_replicas is None


def test_every_annotation() -> None:
    p = parse(
        queues=" orders , re:^jobs-\\d+$ , orders ",
        vhost="a/b",
        messages_per_replica="12.5",
        min_replicas="0",
        max_replicas="40",
        cooldown="2m30s",
        count="ready",
        aggregate="MAX",
        activation_messages="3",
        target_drain_seconds="90s",
        scale_up_limit="4",
        scale_down_limit="25%",
        fallback_replicas="5",
        mode="dry-run",
        tolerance="0.05",
        rate_window="1m",
        standing_wait="5s",
        surge_threshold="300%",
    )
    assert p.queues.vhost == "a/b"
    assert p.queues.names == ("orders",)
    assert [x.pattern for x in p.queues.patterns] == ["^jobs-\\d+$"]
    assert p.messages_per_replica == 12.5
    assert (p.min_replicas, p.max_replicas, p.cooldown_seconds) == (0, 40, 150.0)
    assert (p.count, p.aggregate, p.mode) == (CountMode.READY, Aggregate.MAX, Mode.DRY_RUN)
    assert p.activation_messages == 3
    assert p.target_drain_seconds == 90
    assert p.scale_up_limit == StepLimit(replicas=4)
    assert p.scale_down_limit == StepLimit(percent=25)
    assert p.fallback_replicas == 5
    assert p.tolerance == 0.05
    assert (p.rate_window_seconds, p.standing_wait_seconds, p.surge_threshold) == (60, 5, 3.0)


def test_rate_aware_defaults() -> None:
    p = parse(queues="orders", target_drain_seconds="60")
    assert (p.rate_window_seconds, p.standing_wait_seconds, p.surge_threshold) == (30, 10, 2.0)
    assert (p.cooldown_seconds, p.tolerance, p.scale_down_limit) == (30.0, 0.1, None)


def test_rate_aware_cooldown_default_is_its_own_setting() -> None:
    defaults = ProcessDefaults(default_cooldown_seconds=600, default_rate_aware_cooldown_seconds=45)
    rate_aware = parse_binding({ann.QUEUES: "q", ann.TARGET_DRAIN_SECONDS: "60"}, defaults)
    both = parse_binding(
        {ann.QUEUES: "q", ann.TARGET_DRAIN_SECONDS: "60", ann.MESSAGES_PER_REPLICA: "5"}, defaults
    )
    backlog = parse_binding({ann.QUEUES: "q", ann.MESSAGES_PER_REPLICA: "5"}, defaults)
    assert (rate_aware.cooldown_seconds, both.cooldown_seconds) == (45, 45)
    assert backlog.cooldown_seconds == 600


def test_process_defaults_flow_into_the_policy() -> None:
    defaults = ProcessDefaults(
        stale_after_seconds=9, fallback_after_failures=7, default_cooldown_seconds=60
    )
    p = parse_binding({ann.QUEUES: "q", ann.MESSAGES_PER_REPLICA: "1"}, defaults)
    assert (p.stale_after_seconds, p.fallback_after_failures, p.cooldown_seconds) == (9, 7, 60)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param(
            {"queues": "q"}, "messages-per-replica is required unless", id="sizing-missing"
        ),
        pytest.param({}, "qscaler.io/queues is required", id="queues-missing"),
        pytest.param({"queues": " , "}, 'qscaler.io/queues "," names no queue', id="queues-empty"),
        pytest.param(
            {"queues": "q", "messages_per_replica": "abc"},
            'qscaler.io/messages-per-replica "abc" is not a number above 0',
            id="mpr-not-a-number",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "0"},
            'qscaler.io/messages-per-replica "0" is not a number above 0',
            id="mpr-zero",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "min_replicas": "abc"},
            'qscaler.io/min-replicas "abc" is not a whole number',
            id="min-not-whole",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "min_replicas": "5", "max_replicas": "3"},
            "qscaler.io/min-replicas 5 > qscaler.io/max-replicas 3",
            id="min-above-max",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "max_replicas": "0"},
            'qscaler.io/max-replicas "0" must be at least 1',
            id="max-zero",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "cooldown": "5 minutes"},
            'qscaler.io/cooldown "5 minutes" is not a duration',
            id="cooldown-words",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "count": "some"},
            'qscaler.io/count "some" is not one of ready, all',
            id="count-unknown",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "mode": "off"},
            'qscaler.io/mode "off" is not one of active, dry-run, paused',
            id="mode-unknown",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "scale_down_limit": "150%"},
            'qscaler.io/scale-down-limit "150%" is not a replica count',
            id="down-limit-over-100",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "scale_up_limit": "0"},
            'qscaler.io/scale-up-limit "0" is not a replica count',
            id="up-limit-zero",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "fallback_replicas": "50"},
            "qscaler.io/fallback-replicas 50 is outside",
            id="fallback-above-max",
        ),
        pytest.param(
            {"queues": "re:([a-z]", "messages_per_replica": "1"},
            'qscaler.io/queues "re:([a-z]" is not a valid regular expression',
            id="regex-invalid",
        ),
        pytest.param(
            {"queues": "x" * 256, "messages_per_replica": "1"},
            "is longer than RabbitMQ's 255 bytes",
            id="name-too-long",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "tolerance": "2"},
            'qscaler.io/tolerance "2" is not a fraction',
            id="tolerance-too-big",
        ),
        pytest.param(
            {"queues": "q", "target_drain_seconds": "60", "surge_threshold": "2"},
            'qscaler.io/surge-threshold "2" is not a percentage above 100%',
            id="surge-threshold-not-a-percentage",
        ),
        pytest.param(
            {"queues": "q", "target_drain_seconds": "60", "surge_threshold": "90%"},
            'qscaler.io/surge-threshold "90%" is not a percentage above 100%',
            id="surge-threshold-below-100",
        ),
        pytest.param(
            {"queues": "q", "target_drain_seconds": "60", "standing_wait": "soon"},
            'qscaler.io/standing-wait "soon" is not a duration',
            id="standing-wait-not-a-duration",
        ),
        pytest.param(
            {"queues": "q", "target_drain_seconds": "60", "rate_window": "-1"},
            'qscaler.io/rate-window "-1" is not a duration',
            id="rate-window-negative",
        ),
        pytest.param(
            {"queues": "q", "messages_per_replica": "1", "vhost": ""},
            'qscaler.io/vhost "" is not a vhost name',
            id="vhost-empty",
        ),
    ],
)
def test_errors_name_the_annotation_the_value_and_what_is_valid(
    annotations: dict[str, str], expected: str
) -> None:
    found = problems(**annotations)
    assert any(expected in p for p in found), found


def test_unknown_annotation_suggests_the_known_one() -> None:
    found = parse_problems(
        {ann.QUEUES: "q", ann.MESSAGES_PER_REPLICA: "1", "qscaler.io/max-replica": "4"}
    )
    assert found == (
        "unknown annotation qscaler.io/max-replica; did you mean qscaler.io/max-replicas?",
    )


def test_other_prefixes_and_the_enabled_key_are_ignored() -> None:
    annotations = {
        ann.QUEUES: "q",
        ann.MESSAGES_PER_REPLICA: "1",
        ann.ENABLED_LABEL: "true",
        "deployment.kubernetes.io/revision": "3",
    }
    assert parse_binding(annotations).queues.names == ("q",)


def test_all_problems_are_reported_at_once() -> None:
    found = problems(queues="q", messages_per_replica="x", min_replicas="y", mode="z")
    assert len(found) == 3


def parse_problems(annotations: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(BindingError) as caught:
        parse_binding(annotations)
    return caught.value.problems


# --- hostile input --------------------------------------------------------------

#: The CI run sets QSCALER_HYPOTHESIS_EXAMPLES=10000 (issue: ≥ 10,000 cases).
EXAMPLES = int(os.environ.get("QSCALER_HYPOTHESIS_EXAMPLES", "500"))

values = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"-?\d{0,12}(\.\d{0,12})?%?", fullmatch=True),
    st.sampled_from(
        ["nan", "inf", "-1", "1e999", "0x10", "５", "re:", "re:(", "re:(a+)+$", "1h1h", ""]
    ),
    st.from_regex(r"(\d{1,4}[hms]){1,3}", fullmatch=True),
)
annotation_maps = st.dictionaries(
    st.sampled_from([*ann.KNOWN, ann.PREFIX + "bogus", "other/x"]), values, max_size=len(ann.KNOWN)
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotation_maps)
def test_hostile_annotations_give_a_policy_or_errors_naming_annotations(
    annotations: dict[str, str],
) -> None:
    try:
        p = parse_binding(annotations)
    except BindingError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert "qscaler.io/" in problem, problem
        return
    assert 0 <= p.min_replicas <= p.max_replicas
    assert p.max_replicas >= 1
    assert p.messages_per_replica is not None or p.target_drain_seconds is not None
    assert p.queues.names or p.queues.patterns
