"""The table-driven parser gives what the hand-written one gave, for any input.

Temporary: compares `qscaler.core.binding` with the parser it replaced
(tests/unit/legacy_binding.py) over generated annotation sets, both the
Policy (every field, patterns by their source) and the exact problems, in order.
"""

from __future__ import annotations

import os
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qscaler.core import binding as new
from qscaler.core.annotations import ENABLED_LABEL, KNOWN, PREFIX
from qscaler.core.policy import Policy
from qscaler.errors import BindingError
from tests.unit import legacy_binding as old

EXAMPLES = int(os.environ.get("QSCALER_HYPOTHESIS_EXAMPLES", "500"))

words = st.sampled_from(
    [
        "orders", "a,b", " orders , re:^jobs-\\d+$ , orders ", "re:^x$", " , ", "re:(", "re:",
        "x" * 256, "ready", "ALL", "sum", "Max", "dry-run", "DryRun", "dry_run", "paused",
        "active", "on", "off", "shadow", "payments", "payment", "default", "zzz", "/", "a/b",
        "", "  ", "nan", "inf", "-1", "1e3", "0x10", "５", "1h1h", "10%", "0%", "95%", "200%",
        "100%", "150%", "1000%", "1001%", "10001%", "0.9", "0.91", "2m30s", "7d", "604800",
        "604801", "100000", "100001", "0", "00", "1", "3", "5", "10", "50",
    ]
)  # fmt: skip
values = st.one_of(
    words,
    st.from_regex(r"\d{0,13}(\.\d{0,10})?%?", fullmatch=True),
    st.from_regex(r"(\d{1,4}[hms]){1,3}", fullmatch=True),
    st.text(max_size=20),
)
strays = st.sampled_from(
    [
        ENABLED_LABEL, PREFIX + "bogus", PREFIX + "max-replica", PREFIX + "x",
        "qsclaer.io/cooldown", "qscaler.com/max-replicas", "other/x", "qscaler/cooldown",
    ]
)  # fmt: skip
#: Values each annotation takes when valid (mostly), so that many sets parse to a Policy.
plausible = {
    "queues": ["orders", "a,b", "re:^jobs-\\d+$", "orders,re:^x"],
    "vhost": ["/", "a/b"],
    "messages-per-replica": ["1", "12.5", "100"],
    "min-replicas": ["0", "1", "2", "3", "10", "11"],
    "max-replicas": ["1", "2", "4", "10", "40"],
    "cooldown": ["0", "2m30s", "300", "1h"],
    "count": ["ready", "ALL"],
    "aggregate": ["sum", "Max"],
    "activation-messages": ["0", "3", "2.5"],
    "target-drain-seconds": ["60", "90s", "2m"],
    "scale-up-limit": ["4", "50%", "1000%"],
    "scale-down-limit": ["1", "25%", "100%"],
    "fallback-replicas": ["0", "1", "2", "5", "11"],
    "mode": ["active", "dry_run", "Paused"],
    "tolerance": ["0.05", "10%", "0"],
    "rate-window": ["0", "30s", "2m"],
    "standing-wait": ["0", "10s"],
    "surge-threshold": ["150%", "300%"],
    "forecast": ["on", "shadow", "OFF"],
    "broker": ["default", "payments"],
}


@st.composite
def annotation_sets(draw: st.DrawFn) -> dict[str, str]:
    chosen = draw(st.lists(st.sampled_from(KNOWN), max_size=len(KNOWN), unique=True))
    if draw(st.integers(0, 3)) == 0:
        chosen += draw(st.lists(strays, min_size=1, max_size=2, unique=True))
    result = {}
    for key in chosen:
        valid = plausible.get(key.removeprefix(PREFIX))
        likely = valid is not None and draw(st.integers(0, 19)) > 0
        result[key] = draw(st.sampled_from(valid)) if likely and valid else draw(values)
    return result


brokers = st.sampled_from([("default",), ("default", "payments", "orders-eu")])
durations = st.sampled_from([300.0, 30.0, 600.0, 45.0, 0.0])


def outcome(parse: object, annotations: dict[str, str], defaults: object) -> object:
    try:
        policy: Policy = parse(annotations, defaults)  # type: ignore[operator]
    except BindingError as exc:
        return ("problems", exc.problems)
    patterns = tuple(p.pattern for p in policy.queues.patterns)
    return (replace(policy, queues=replace(policy.queues, patterns=())), patterns)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    annotation_sets(),
    st.sampled_from(
        [
            {},
            {PREFIX + "queues": "orders", PREFIX + "target-drain-seconds": "60"},
            {PREFIX + "queues": "orders", PREFIX + "messages-per-replica": "100"},
        ]
    ),
    brokers,
    durations,
    durations,
)
def test_the_table_parser_matches_the_old_one(
    drawn: dict[str, str], base: dict[str, str], known: tuple[str, ...], cool: float, rate: float
) -> None:
    annotations = base | drawn  # real bindings name queues and a sizing: reach the Policy often
    args = {"default_cooldown_seconds": cool, "default_rate_aware_cooldown_seconds": rate}
    expected = outcome(old.parse_binding, annotations, old.ProcessDefaults(brokers=known, **args))
    got = outcome(new.parse_binding, annotations, new.ProcessDefaults(brokers=known, **args))
    assert got == expected
