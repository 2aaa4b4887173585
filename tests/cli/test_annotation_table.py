"""The README's annotation tables are the annotation table's, word for word.

After changing a row of qscaler/core/annotations.py, rewrite the README's copy:

    .venv/bin/python -m tests.cli.test_annotation_table
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from qscaler.core.annotations import ANNOTATIONS, KNOWN, OTHER_KEYS, read_order, readme_table

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BEGIN = (
    "<!-- generated from qscaler/core/annotations.py by "
    "`python -m tests.cli.test_annotation_table`: edit the table there -->\n"
)
END = "<!-- end of the generated annotation tables -->\n"


def documented(text: str) -> str:
    """What the README has between the markers (each on a line of its own)."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[start : text.index(END, start)].removeprefix("\n").removesuffix("\n")


def rewritten(text: str) -> str:
    """The README with the generated tables put between the markers."""
    start = text.index(BEGIN) + len(BEGIN)
    return text[:start] + "\n" + readme_table() + "\n" + text[text.index(END, start) :]


def differences(expected: str, found: str) -> str:
    """A unified diff, empty when the two are the same."""
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            found.splitlines(keepends=True),
            "qscaler/core/annotations.py",
            "README.md",
        )
    )


def test_the_readme_tables_are_generated_from_the_annotation_table() -> None:
    diff = differences(readme_table(), documented(README.read_text()))
    if diff:
        pytest.fail(
            "the README's annotation tables differ from qscaler/core/annotations.py; "
            "rewrite them with `.venv/bin/python -m tests.cli.test_annotation_table`:\n" + diff
        )


def test_a_changed_row_shows_as_a_diff_naming_it() -> None:
    readme = README.read_text()
    edited = readme.replace("| `qscaler.io/cooldown` |", "| `qscaler.io/cooldowns` |", 1)
    diff = differences(readme_table(), documented(edited))
    assert "-| `qscaler.io/cooldown` |" in diff
    assert "+| `qscaler.io/cooldowns` |" in diff


def test_every_qscaler_key_the_docs_name_is_in_the_table() -> None:
    """A key in the docs that the parser does not know would be refused on a workload."""
    keys = set(KNOWN) | {key for key, _, _ in OTHER_KEYS}
    shipped = [*ROOT.glob("deploy/**/*"), *ROOT.glob("charts/**/*"), *ROOT.glob("examples/*")]
    docs = [README, *ROOT.glob("docs/*.md")]
    docs += [p for p in shipped if p.suffix in {".yaml", ".json", ".txt", ".md", ".tpl"}]
    assert len(docs) > 20  # the globs still find the manifests, the chart and the docs
    for path in docs:
        for key in re.findall(r"qscaler\.io/[a-z][a-z-]*[a-z]", path.read_text()):
            assert key in keys, f"{path.relative_to(ROOT)} names {key}, which is not in the table"


def test_the_read_order_reads_every_row_once() -> None:
    assert sorted(a.key for a in read_order()) == sorted(a.key for a in ANNOTATIONS)


if __name__ == "__main__":
    README.write_text(rewritten(README.read_text()))
