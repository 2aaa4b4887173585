"""Loading traces: what is accepted, and errors that name the line to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from qscaler.errors import ConfigError
from qscaler.sim.trace import Trace, load_trace, parse_trace


def test_a_valid_trace_keeps_every_rate_in_order() -> None:
    text = "t,publish_rate\n0,5\n1,0.5\n2,0\n"

    trace = parse_trace(text.splitlines(), name="tiny")

    assert trace == Trace(name="tiny", rates=(5.0, 0.5, 0.0))
    assert len(trace) == 3


def test_blank_lines_and_spaces_around_values_are_ignored() -> None:
    text = "t, publish_rate\n\n0, 7\n1 ,3\n\n"

    assert parse_trace(text.splitlines(), name="x").rates == (7.0, 3.0)


def test_a_file_is_named_after_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "burst.csv"
    path.write_text("t,publish_rate\n0,1\n1,2\n", encoding="utf-8")

    trace = load_trace(path)

    assert trace.name == "burst"
    assert trace.rates == (1.0, 2.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "time,rate\n0,1\n",
            "line 1: expected the header 't,publish_rate', found 'time,rate'",
            id="wrong header",
        ),
        pytest.param(
            "t,publish_rate\n1,5\n",
            "line 2: t must count up by one from 0; expected 0, found 1",
            id="not starting at 0",
        ),
        pytest.param(
            "t,publish_rate\n0,1\n1,1\n3,1\n",
            "line 4: t must count up by one from 0; expected 2, found 3",
            id="a missing second",
        ),
        pytest.param(
            "t,publish_rate\n0,1\n0.5,1\n",
            "line 3: t must be a whole number, found '0.5'",
            id="fractional t",
        ),
        pytest.param(
            "t,publish_rate\n0,-1\n",
            "line 2: publish_rate must be a finite number ≥ 0, found '-1'",
            id="negative rate",
        ),
        pytest.param(
            "t,publish_rate\n0,nan\n",
            "line 2: publish_rate must be a finite number ≥ 0, found 'nan'",
            id="nan rate",
        ),
        pytest.param(
            "t,publish_rate\n0,inf\n",
            "line 2: publish_rate must be a finite number ≥ 0, found 'inf'",
            id="infinite rate",
        ),
        pytest.param(
            "t,publish_rate\n0,lots\n",
            "line 2: publish_rate must be a number, found 'lots'",
            id="not a number",
        ),
        pytest.param(
            "t,publish_rate\n0,1,2\n",
            "line 2: expected 2 values (t,publish_rate), found 3",
            id="extra column",
        ),
        pytest.param("", "empty trace", id="empty"),
        pytest.param("t,publish_rate\n", "the trace has a header but no rows", id="header only"),
    ],
)
def test_invalid_traces_are_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_trace(text.splitlines(), name="bad", source="bad.csv")

    assert str(raised.value).startswith("bad.csv")
    assert message in str(raised.value)


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read trace"):
        load_trace(tmp_path / "missing.csv")
