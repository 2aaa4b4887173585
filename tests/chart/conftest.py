"""Fixtures of the chart tests: helm (built once per machine, cached)."""

from __future__ import annotations

import pytest

from tests.chart.helm import Helm
from tests.harness.tools import ToolUnavailable


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        return Helm.build(tmp_path_factory.mktemp("helm-home"))
    except ToolUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
