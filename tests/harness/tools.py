"""Run the scripts that build or fetch a test tool into a cache outside the
repository (tools/*/build.sh, tests/docker/base-image.sh): each prints the
cached path on its last line, and takes seconds once the cache is warm."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class ToolUnavailable(RuntimeError):
    """The script failed; the message carries its standard error."""


def cached_tool(script: str, timeout: float = 3600) -> Path:
    """Run `script` (relative to the repository) and return the path it prints last."""
    done = subprocess.run(
        [str(REPO / script)], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise ToolUnavailable(f"{script} failed:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])
