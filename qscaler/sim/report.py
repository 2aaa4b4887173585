"""Benchmark results as Markdown, and as scores tables for the terminal.

`qscaler bench --output FILE.md` writes its tables between two marker
comments, so the prose around them in `docs/benchmarks.md` (the command, the
readings of the spec, the explanations) survives every regeneration and the
tables are never edited by hand. A file without the markers gets a fresh
document holding just the generated part.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qscaler.errors import ConfigError
from qscaler.sim.bench import Comparison, Row
from qscaler.sim.frontier import Frontier
from qscaler.sim.scores import Scores

BEGIN = "<!-- qscaler bench: begin (generated, do not edit) -->"
END = "<!-- qscaler bench: end -->"

_SCORE_HEADERS = (
    "replica-s", "busy-s", "util", "p50", "p95", "p99", "max wait", "SLO",
    "max backlog", "changes", "reversals", "pod starts",
)  # fmt: skip


def markdown(
    comparisons: Sequence[Comparison],
    charts: dict[str, str] | None = None,
    pareto: str | None = None,
) -> str:
    """The summary tables, the Pareto chart, then every contender's scores per trace (and
    its chart)."""
    setting = comparisons[0].qscaler.setting if comparisons else "no traces"
    parts = [
        f"### Summary: qscaler ({setting}) against KEDA tuned on all four knobs",
        "",
        _frontier_summary(comparisons),
        "",
        f"### qscaler ({setting}) against KEDA tuned on its value only",
        "",
        _summary(comparisons),
        "",
        "### Pod starts",
        "",
        _starts(comparisons),
    ]
    if pareto:
        parts += ["", f"![every KEDA configuration and qscaler, per trace]({pareto})"]
    for comparison in comparisons:
        name = comparison.trace.name
        parts += ["", f"### {name} ({len(comparison.trace)} s)", "", _detail(comparison.rows)]
        if charts and name in charts:
            parts += ["", f"![{name}: qscaler and best-tuned KEDA]({charts[name]})"]
    return "\n".join(parts) + "\n"


def write_markdown(path: Path, generated: str) -> None:
    """Put `generated` between the markers of `path`, or write it as a new document."""
    section = f"{BEGIN}\n\n{generated}\n{END}"
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if existing is not None and BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = f"# Scaling benchmark\n\n{section}\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc


def scores_table(rows: Sequence[Row]) -> str:
    """A plain-text table of contenders and their scores (for the terminal)."""
    header = ("controller", "setting", *_SCORE_HEADERS)
    lines = [header, *[(r.controller, r.setting, *_cells(r.scores)) for r in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def _summary(comparisons: Sequence[Comparison]) -> str:
    header = (
        "| trace | KEDA best value | KEDA replica-s | KEDA p95 | qscaler replica-s | qscaler p95 "
        "| qscaler SLO | replica-s ratio | p95 ratio |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|:---:|---:|---:|"]
    for c in comparisons:
        keda, ours = c.keda.scores, c.qscaler.scores
        value = c.keda.setting.split(" ")[2].rstrip(",")
        lines.append(
            f"| {c.trace.name} | {value} | {keda.replica_seconds} | {keda.p95_wait} s "
            f"| {ours.replica_seconds} | {ours.p95_wait} s | {_yes(ours.slo_met)} "
            f"| {_ratio(c.ratio('replica_seconds'))} | {_ratio(c.ratio('p95_wait'))} |"
        )
    return "\n".join(lines)


def _frontier_summary(comparisons: Sequence[Comparison]) -> str:
    header = (
        "| trace | best of KEDA's 160 | its replica-s | its p95 | its pod starts "
        "| qscaler replica-s | qscaler p95 | qscaler pod starts | qscaler SLO "
        "| dominated_by | cost_at_equal_latency | starts_at_equal_latency |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|"]
    for c in comparisons:
        tuned, ours, f = c.keda_tuned, c.qscaler.scores, c.frontier
        knobs = tuned.setting.removesuffix(", best of 160")
        lines.append(
            f"| {c.trace.name} | {knobs} | {tuned.scores.replica_seconds} "
            f"| {tuned.scores.p95_wait} s | {tuned.scores.pod_starts} "
            f"| {ours.replica_seconds} | {ours.p95_wait} s | {ours.pod_starts} "
            f"| {_yes(ours.slo_met)} | {f.dominated_by} "
            f"| {_at_equal(f, f.cost_at_equal_latency)} "
            f"| {_at_equal(f, f.starts_at_equal_latency)} |"
        )
    return "\n".join(lines)


def _starts(comparisons: Sequence[Comparison]) -> str:
    header = (
        "| trace | qscaler | KEDA, value tuned | best of KEDA's 160 "
        "| cheapest KEDA as fast as qscaler | its pod starts |"
    )
    lines = [header, "|---|---:|---:|---:|---|---:|"]
    for c in comparisons:
        f = c.frontier
        if f.as_fast is None:
            fast, starts = "none is as fast", "–"
        else:
            fast = c.sweep.configurations[f.as_fast].describe()
            starts = str(c.sweep.scores[f.as_fast].pod_starts)
        lines.append(
            f"| {c.trace.name} | {c.qscaler.scores.pod_starts} | {c.keda.scores.pod_starts} "
            f"| {c.keda_tuned.scores.pod_starts} | {fast} | {starts} |"
        )
    return "\n".join(lines)


def _at_equal(f: Frontier, value: float | None) -> str:
    if f.as_fast is None:
        return "none"
    return "∞" if value is None else f"{value:.2f}"


def _detail(rows: Sequence[Row]) -> str:
    header = "| controller | setting | " + " | ".join(_SCORE_HEADERS) + " |"
    lines = [header, "|---|---|" + "---:|" * len(_SCORE_HEADERS)]
    lines += [
        f"| {r.controller} | {r.setting} | " + " | ".join(_cells(r.scores)) + " |" for r in rows
    ]
    return "\n".join(lines)


def _cells(s: Scores) -> tuple[str, ...]:
    return (
        str(s.replica_seconds), f"{s.busy_seconds:.0f}", f"{s.utilization:.2f}",
        f"{s.p50_wait} s", f"{s.p95_wait} s", f"{s.p99_wait} s", f"{s.max_wait} s",
        _yes(s.slo_met), f"{s.max_backlog:.0f}", str(s.scale_changes), str(s.reversals),
        str(s.pod_starts),
    )  # fmt: skip


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"
