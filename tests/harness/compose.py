"""Docker Compose v2 against the tests' private engine.

The compose CLI plugin is built from Go modules by tools/compose/build.sh
(cached outside the repository); a private DOCKER_CONFIG names its directory
as the CLI's plugin directory, so nothing is installed for the user.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness.docker import DockerEngine, DockerError

REPO = Path(__file__).resolve().parents[2]


def compose_plugin() -> Path:
    """The docker-compose plugin binary, built on first use (minutes) and cached."""
    done = subprocess.run(
        [str(REPO / "tools" / "compose" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise DockerError(f"tools/compose/build.sh failed:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


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
        self.env = engine.env(DOCKER_CONFIG=str(config), **env)

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        files = [arg for f in self.files for arg in ("--file", str(f))]
        done = subprocess.run(
            ["docker", "compose", "--project-directory", str(REPO), *files, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise DockerError(
                f"docker compose {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done
