"""A real Docker engine for the tests, driven from Python.

`DockerEngine.start()` runs tests/docker/up.sh: a private dockerd (its own
data root, exec root, pidfile and socket; host networking only) that the
session owns and stops. The images the tests need and cannot pull (no
registry is reachable from the test machines) are made locally by
tests/harness/images.py from a Debian root filesystem.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCKER_DIR = Path(__file__).resolve().parent.parent / "docker"


class DockerError(RuntimeError):
    """A docker command failed; the message carries its output."""


@dataclass
class DockerEngine:
    """A running private dockerd: its work directory and API socket."""

    workdir: Path
    host: str

    @classmethod
    def start(cls) -> DockerEngine:
        """Start a private daemon (dockerd must be installed: tests/install-packages.sh)."""
        done = subprocess.run(
            [str(DOCKER_DIR / "up.sh")], capture_output=True, text=True, timeout=180, check=False
        )
        if done.returncode != 0:
            raise DockerError(f"tests/docker/up.sh failed:\n{done.stdout}\n{done.stderr}")
        work = Path(done.stdout.strip().splitlines()[-1])
        env = dict(line.split("=", 1) for line in (work / "env").read_text().splitlines() if line)
        return cls(work, env["DOCKER_HOST"])

    def stop(self) -> None:
        """Stop exactly the daemon up.sh started, and delete its directory."""
        subprocess.run([str(DOCKER_DIR / "down.sh"), str(self.workdir)], check=False, timeout=120)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a docker CLI that talks to this daemon only."""
        return {**os.environ, "DOCKER_HOST": self.host, **extra}

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float = 600,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`docker ARGS...` (with `env` added to the environment); raises
        DockerError with the output when `check` and it fails."""
        done = subprocess.run(
            ["docker", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(**(env or {})),
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise DockerError(
                f"docker {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def inspect(self, kind: str, name: str) -> dict[str, Any]:
        """`docker KIND inspect NAME` as a dict (kind: image, container, ...)."""
        found: list[dict[str, Any]] = json.loads(self.run(kind, "inspect", name).stdout)
        return found[0]

    def confined(
        self,
        image: str,
        *args: str,
        env: dict[str, str] | None = None,
        mounts: dict[Path, str] | None = None,
        detach_as: str | None = None,
        entrypoint: str | None = None,
        check: bool = False,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run `image` the way deploy/base runs qscaler: read-only root, a tmpfs /tmp,
        no capabilities, no privilege escalation, the image's own (non-root) user;
        on the host network (test servers bind 127.0.0.1). `mounts` maps host paths
        to read-only container paths; `detach_as` names a background container."""
        flags = ["--network", "host", "--read-only", "--tmpfs", "/tmp"]
        flags += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for key, value in (env or {}).items():
            flags += ["--env", f"{key}={value}"]
        for source, target in (mounts or {}).items():
            flags += ["--mount", f"type=bind,source={source},target={target},readonly"]
        if entrypoint is not None:
            flags += ["--entrypoint", entrypoint]
        flags += ["--detach", "--name", detach_as] if detach_as else ["--rm"]
        return self.run("run", *flags, image, *args, check=check, timeout=timeout)

    def has_image(self, reference: str) -> bool:
        return self.run("image", "inspect", reference, check=False).returncode == 0

    def logs(self, lines: int = 40) -> str:
        """The tail of dockerd's own log (printed when tests fail)."""
        log = self.workdir / "dockerd.log"
        return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""


def readable_dir(path: Path) -> Path:
    """A directory the image's user (UID 10001) can read when it is bind-mounted:
    pytest's tmp_path is private to root."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path
