"""Every mistake a newcomer makes in the first hour, as they would make it.

Each case runs the installed command line in a fresh process, with a clean
`QSCALER_*` environment and no kubeconfig of the machine's, and asserts what
the README and `--help` promise: one line on stderr, no traceback, exit
status 2. The dead API server is a real socket that refuses connections; the
port in use is a real listening socket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    """A command line, its extra environment, and what its one line must say."""

    args: list[str]
    says: str
    env: dict[str, str]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        f"clusters: [{{name: dead, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: me, user: {token: not-a-secret}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: me}}]\n"
    )
    return path


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def write_bytes(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


CASES: dict[str, Callable[[Path, int, int], Case]] = {
    "no kubeconfig": lambda tmp, _, __: Case(["plan"], "no Kubernetes configuration", {}),
    "dead API server": lambda tmp, closed, _: Case(
        ["plan", "--kubeconfig", str(kubeconfig(tmp / "kc", f"https://127.0.0.1:{closed}"))],
        "Connection refused",
        {},
    ),
    "unknown context": lambda tmp, closed, _: Case(
        ["plan", "--context", "prod", "--kubeconfig", str(kubeconfig(tmp / "kc", "https://x"))],
        "no context named 'prod'",
        {},
    ),
    "bindings file missing": lambda tmp, _, __: Case(
        ["plan", "--bindings", str(tmp / "absent.yaml")], "cannot read it", {}
    ),
    "bindings file empty": lambda tmp, _, __: Case(
        ["plan", "--bindings", write(tmp / "b.yaml", "# nothing yet\n")], "no workloads", {}
    ),
    "bindings file mistyped key": lambda tmp, _, __: Case(
        ["plan", "--bindings", write(tmp / "b.yaml", "workload:\n  - name: a\n")],
        "did you mean 'workloads'?",
        {},
    ),
    "bindings file not YAML": lambda tmp, _, __: Case(
        ["plan", "--bindings", write(tmp / "b.yaml", "workloads: [\n")], "line", {}
    ),
    "bad settings value": lambda tmp, _, __: Case(
        ["plan", "--bindings", str(REPO / "examples" / "bindings.yaml")],
        "QSCALER_POLL_INTERVAL_SECONDS",
        {"QSCALER_POLL_INTERVAL_SECONDS": "often"},
    ),
    "port in use": lambda tmp, _, busy: Case(
        ["run", "--bindings", str(REPO / "examples" / "bindings.yaml")],
        f"127.0.0.1:{busy}",
        {"QSCALER_METRICS_ADDRESS": "127.0.0.1", "QSCALER_METRICS_PORT": str(busy)},
    ),
    "bad trace": lambda tmp, _, __: Case(
        ["simulate", write(tmp / "t.csv", "t,publish_rate\n0,fast\n")], "t.csv", {}
    ),
    "password file not text": lambda tmp, _, __: Case(
        ["plan", "--bindings", str(REPO / "examples" / "bindings.yaml")],
        "cannot read (not UTF-8 text)",
        {"QSCALER_PASSWORD_FILE": write_bytes(tmp / "password", b"\xb7\xff\x00")},
    ),
    "brokers file a list": lambda tmp, _, __: Case(
        ["plan", "--bindings", str(REPO / "examples" / "bindings.yaml")],
        "must be a mapping with a list `brokers:`",
        {"QSCALER_BROKERS_FILE": write(tmp / "brokers.yaml", "- name: payments\n")},
    ),
    "unknown flag": lambda tmp, _, __: Case(["plan", "--dryrun"], "--dryrun", {}),
    "unknown command": lambda tmp, _, __: Case(["scale"], "invalid choice", {}),
    "status of nothing": lambda tmp, closed, _: Case(
        ["status", "--url", f"http://127.0.0.1:{closed}"], "Connection refused", {}
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_user_error_is_one_line_on_stderr_and_exit_2(
    case: str, tmp_path: Path, closed_port: int, listening_port: int
) -> None:
    c = CASES[case](tmp_path, closed_port, listening_port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QSCALER_", "KUBECONFIG"))}
    env.update(HOME=str(tmp_path), **c.env)  # no ~/.kube/config of this machine
    done = subprocess.run(
        [sys.executable, "-m", "qscaler", *c.args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert c.says in done.stderr
    assert done.returncode == 2, done.stderr
