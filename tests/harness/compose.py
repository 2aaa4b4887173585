"""Docker Compose v2 against the tests' private engine.

The compose CLI plugin is built from Go modules by tools/compose/build.sh
(cached outside the repository); a private DOCKER_CONFIG names its directory
as the CLI's plugin directory, so nothing is installed for the user.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness.docker import DockerEngine
from tests.harness.tools import cached_tool

REPO = Path(__file__).resolve().parents[2]


def compose_plugin() -> Path:
    """The docker-compose plugin binary, built on first use (minutes) and cached."""
    return cached_tool("tools/compose/build.sh")


class Compose:
    """`docker compose` with a fixed project, files and environment."""

    def __init__(
        self, engine: DockerEngine, config: Path, files: list[Path], env: dict[str, str]
    ) -> None:
        (config / "cli-plugins").mkdir(parents=True, exist_ok=True)
        link = config / "cli-plugins" / "docker-compose"
        if not link.exists():
            link.symlink_to(compose_plugin())
        self.engine, self.files = engine, files
        self.env = {"DOCKER_CONFIG": str(config), **env}

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        files = [arg for f in self.files for arg in ("--file", str(f))]
        return self.engine.run(
            "compose", "--project-directory", str(REPO), *files, *args,
            check=check, timeout=timeout, env=self.env,
        )  # fmt: skip
