"""Publish-rate traces: the only input that differs between benchmark runs.

A trace is a CSV file with the header `t,publish_rate` and one row per
simulated second (docs/benchmark-model.md). Traces are written by hand or by scripts,
so the loader checks every row and names the file and line of the first
problem instead of letting a typo become a silently wrong benchmark.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qscaler.errors import ConfigError

HEADER = ("t", "publish_rate")


@dataclass(frozen=True, slots=True)
class Trace:
    """Messages published in each second `t = 0, 1, …`; the run lasts `len(trace)` s."""

    name: str
    rates: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.rates)


def load_trace(path: Path) -> Trace:
    """Read and validate a trace file; the trace is named after the file's stem.

    Raises `ConfigError` naming the file and line of the first invalid row.
    """
    try:
        with path.open(newline="", encoding="utf-8") as lines:
            return parse_trace(lines, name=path.stem, source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read trace {path}: {exc}") from exc


def parse_trace(lines: Iterable[str], *, name: str, source: str = "<trace>") -> Trace:
    """Parse the CSV text of a trace. Blank lines are ignored.

    `source` is the file name used in error messages.
    """
    reader = csv.reader(lines)
    rates: list[float] = []
    header_seen = False
    for row in reader:
        cells = tuple(cell.strip() for cell in row)
        if not any(cells):
            continue
        where = f"{source}, line {reader.line_num}"
        if not header_seen:
            _check_header(cells, where)
            header_seen = True
            continue
        rates.append(_parse_row(cells, len(rates), where))
    if not header_seen:
        raise ConfigError(f"{source}: empty trace; expected the header 't,publish_rate'")
    if not rates:
        raise ConfigError(f"{source}: the trace has a header but no rows")
    return Trace(name=name, rates=tuple(rates))


def _check_header(cells: tuple[str, ...], where: str) -> None:
    if cells != HEADER:
        found = ",".join(cells)
        raise ConfigError(f"{where}: expected the header 't,publish_rate', found {found!r}")


def _parse_row(cells: tuple[str, ...], expected_t: int, where: str) -> float:
    if len(cells) != len(HEADER):
        raise ConfigError(f"{where}: expected 2 values (t,publish_rate), found {len(cells)}")
    t_text, rate_text = cells
    try:
        t = int(t_text)
    except ValueError:
        raise ConfigError(f"{where}: t must be a whole number, found {t_text!r}") from None
    if t != expected_t:
        raise ConfigError(
            f"{where}: t must count up by one from 0; expected {expected_t}, found {t}"
        )
    try:
        rate = float(rate_text)
    except ValueError:
        raise ConfigError(f"{where}: publish_rate must be a number, found {rate_text!r}") from None
    if not math.isfinite(rate) or rate < 0:
        raise ConfigError(f"{where}: publish_rate must be a finite number ≥ 0, found {rate_text!r}")
    return rate
