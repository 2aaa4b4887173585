"""Run qscaler as a real process, the way it runs in a pod.

End-to-end tests start `python -m qscaler run` with `QSCALER_*` settings, a
kubeconfig (often a ServiceAccount token from deploy/'s RBAC) and the test
broker's credentials, then watch the cluster. The process is stopped with
SIGTERM (graceful: releases its Lease) or SIGKILL (a crash).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from tests.harness.k8s import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class QscalerProcess:
    """One `qscaler run` subprocess with its own metrics port and log file;
    with `bindings`, `qscaler run --bindings FILE` (no cluster)."""

    def __init__(
        self, log_dir: Path, name: str, settings: dict[str, str], bindings: Path | None = None
    ) -> None:
        self.name = name
        self.bindings = bindings
        self.port = free_port()
        self.log_path = log_dir / f"qscaler-{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("QSCALER_")},
            "QSCALER_METRICS_ADDRESS": "127.0.0.1",
            "QSCALER_METRICS_PORT": str(self.port),
            "QSCALER_IDENTITY": name,
            "QSCALER_LOG_FORMAT": "json",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> QscalerProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "qscaler", "run"]
            + (["--bindings", str(self.bindings)] if self.bindings else []),
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(f"qscaler {self.name} /healthz", self._healthy, timeout=60)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"qscaler {self.name} exited {self.process.returncode}:\n{self.logs()}"
            )
        return self.get("/healthz")[0] == 200

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> str:
        return self.get("/metrics")[1]

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of one sample in a real scrape of /metrics."""
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric, _, label_text = key.partition("{")
            if metric != name:
                continue
            found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
            if found == wanted:
                return float(value)
        return None

    def metric_sum(self, name: str, **labels: str) -> float:
        """The sum of every sample of `name` whose labels include `labels`."""
        total = 0.0
        wanted = {f'{k}="{v}"' for k, v in labels.items()}
        for line in self.metrics().splitlines():
            key, _, value = line.rpartition(" ")
            metric, _, label_text = key.partition("{")
            if line.startswith("#") or metric != name:
                continue
            if wanted <= set(label_text.rstrip("}").split(",")):
                total += float(value)
        return total

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
        return self.process.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
