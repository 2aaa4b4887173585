"""helm, built from Go modules by tools/helm/build.sh (cached outside the
repository), run with its own config, cache and data directories so a test
never reads or writes the user's."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.harness.tools import cached_tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "qscaler"
#: Labels the chart adds for Helm's bookkeeping; deploy/base has none of them.
HELM_LABELS = frozenset(
    {
        "app.kubernetes.io/instance",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/version",
        "helm.sh/chart",
    }
)


class Helm:
    """A helm binary and a private home for it."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary, self.home = binary, home

    @classmethod
    def build(cls, home: Path) -> Helm:
        """helm from tools/helm/build.sh (built on first use, then cached)."""
        return cls(cached_tool("tools/helm/build.sh"), home)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "HOME": str(self.home),
            "PATH": "/usr/bin:/bin",
            **{f"HELM_{d}_HOME": str(self.home / d.lower()) for d in ("CACHE", "CONFIG", "DATA")},
        }
        done = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done

    def template(self, *values: str, namespace: str = "qscaler-system") -> list[dict[str, Any]]:
        """`helm template qscaler` of the chart, as objects; `values` are --set items."""
        sets = [arg for value in values for arg in ("--set", value)]
        out = self.run("template", "qscaler", str(CHART), "--namespace", namespace, *sets).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


def objects_by_key(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Objects keyed by (kind, namespace, name), without Helm's bookkeeping labels."""
    keyed = {}
    for doc in docs:
        meta = doc["metadata"]
        labels = {k: v for k, v in meta.get("labels", {}).items() if k not in HELM_LABELS}
        key = (doc["kind"], meta.get("namespace", ""), meta["name"])
        keyed[key] = {**doc, "metadata": {**meta, "labels": labels}}
    return keyed
