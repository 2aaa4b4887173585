"""pytest plugin: one real Kubernetes control plane per test session.

Tests that need it take the `control_plane` fixture (and are marked `k8s`).
If the binaries are missing or the control plane cannot start, those tests
fail loudly; set QSCALER_SKIP_K8S=1 to skip them instead (for a quick local
run without the Go build). On failure the components' logs are printed, and
KEEP_K8S_LOGS=1 keeps the work directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.harness.k8s import ControlPlane


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """The session's control plane, started on first use."""
    if os.environ.get("QSCALER_SKIP_K8S") == "1":
        pytest.skip("QSCALER_SKIP_K8S=1: Kubernetes control plane tests skipped")
    plane = ControlPlane.start(nodes=2)
    yield plane
    if request.session.testsfailed:
        print("\n--- control plane logs (tests failed) ---\n" + plane.logs())
    plane.stop()


@pytest.fixture
def namespace(control_plane: ControlPlane) -> str:
    """A fresh namespace for one test."""
    return control_plane.namespace()
