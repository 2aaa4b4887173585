"""Skip the tests of one marker when its QSCALER_SKIP_* variable is 1.

Each component the tests start (broker, control plane, container engine) has
a marker and a variable; without the variable a missing component fails its
tests, so a broken test bed never looks green.
"""

from __future__ import annotations

import os

import pytest


def skipping(variable: str) -> bool:
    return os.environ.get(variable) == "1"


def skip_marked(items: list[pytest.Item], marker: str, variable: str, what: str) -> None:
    """Mark every item carrying `marker` skipped when `variable` is 1."""
    if not skipping(variable):
        return
    skip = pytest.mark.skip(reason=f"{variable}=1: {what} tests skipped")
    for item in items:
        if item.get_closest_marker(marker) is not None:
            item.add_marker(skip)
