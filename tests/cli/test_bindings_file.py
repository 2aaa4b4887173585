"""`--bindings FILE`: what would silently do nothing is reported instead."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from qscaler.bindings_file import load_bindings
from qscaler.errors import SettingsError
from qscaler.manifests import selector_matches

ANNOTATIONS = {"qscaler.io/queues": "orders", "qscaler.io/messages-per-replica": "100"}


def deployment(name: str, labels: dict[str, str] | None = None) -> str:
    meta_labels = "".join(f"\n    {k}: '{v}'" for k, v in (labels or {}).items())
    annotations = "".join(f"\n    {k}: '{v}'" for k, v in ANNOTATIONS.items())
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: {name}\n  namespace: apps\n  labels: {{}}{meta_labels}\n"
        f"  annotations:{annotations}\nspec:\n  replicas: 2\n"
    ).replace("labels: {}\n    ", "labels:\n    ")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("", "no workloads in it", id="empty"),
        pytest.param("workloads: []\n", "no workloads in it", id="empty-list"),
        pytest.param("workload:\n  - name: a\n", "did you mean 'workloads'?", id="mistyped-key"),
        pytest.param(
            "workloads:\n  - name: a\n  - name: a\n", "Deployment default/a is there twice",
            id="duplicate",
        ),
        pytest.param("- name: a\n", "is not a mapping", id="a-list"),
    ],
)  # fmt: skip
def test_a_file_that_would_do_nothing_is_an_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=says):
        load_bindings(path)


def test_unlabelled_manifests_are_skipped_with_a_warning_as_the_controller_would(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        deployment("labelled", {"qscaler.io/enabled": "true"}) + "---\n" + deployment("bare")
    )
    with caplog.at_level(logging.WARNING, "qscaler.bindings"):
        cluster = load_bindings(path, "qscaler.io/enabled=true")
    assert [w.ref.name for w in cluster.workloads()] == ["labelled"]
    (warning,) = caplog.messages
    assert "skipping Deployment apps/bare" in warning
    assert "qscaler.io/enabled=true" in warning


def test_only_unlabelled_manifests_is_not_an_error_but_each_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(deployment("bare"))
    with caplog.at_level(logging.WARNING, "qscaler.bindings"):
        assert list(load_bindings(path).workloads()) == []
    assert "apps/bare" in caplog.text


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("qscaler.io/enabled=true", {"qscaler.io/enabled": "true"}, True),
        ("qscaler.io/enabled=true", {"qscaler.io/enabled": "false"}, False),
        ("qscaler.io/enabled==true,team=a", {"qscaler.io/enabled": "true", "team": "b"}, False),
        ("team!=a", {}, True),
        ("team", {"team": "a"}, True),
        ("!team", {"team": "a"}, False),
        ("team in (a, b),tier notin (db)", {"team": "b", "tier": "web"}, True),
        ("team in (a,b)", {"team": "c"}, False),
    ],
)
def test_label_selectors_match_as_the_api_server_filters(
    selector: str, labels: dict[str, str], matches: bool
) -> None:
    assert selector_matches(selector, labels) is matches
