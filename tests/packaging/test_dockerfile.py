"""The Dockerfile's structure, read from the file.

tests/packaging/test_image.py builds and runs the image with a real engine;
this module checks what a build cannot show by succeeding: the final stage's
user, entry point and labels agree with deploy/base and pyproject.toml, the
final stage inherits no build tools, and what each COPY takes from the
context after .dockerignore is exactly what the image needs.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import qscaler
from qscaler.settings import Settings
from tests.packaging import dockerfile
from tests.packaging.dockerfile import Dockerfile

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
VENV = "/opt/qscaler"


@pytest.fixture(scope="module")
def parsed() -> Dockerfile:
    return dockerfile.parse((REPO / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def context() -> set[str]:
    """The files `docker build .` would send from this working tree."""
    rules = dockerfile.ignore_rules((REPO / ".dockerignore").read_text())
    return dockerfile.context_files(REPO, rules)


def _deployment() -> dict[str, Any]:
    docs = yaml.safe_load_all((REPO / "deploy" / "base" / "deployment.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "Deployment")


# --- the final stage --------------------------------------------------------------


def test_runs_as_the_non_root_user_the_deployment_names(parsed: Dockerfile) -> None:
    user = parsed.final.last("USER")
    assert user is not None, "the final stage must set USER (the image would run as root)"
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit(), "a numeric UID: runAsNonRoot cannot verify a user name"
    assert int(uid) != 0
    pod = _deployment()["spec"]["template"]["spec"]["securityContext"]
    assert int(uid) == pod["runAsUser"]
    assert gid == "" or int(gid) == pod["runAsGroup"]


def test_entrypoint_is_the_console_script_in_exec_form(parsed: Dockerfile) -> None:
    entrypoint, cmd = parsed.final.last("ENTRYPOINT"), parsed.final.last("CMD")
    assert entrypoint is not None
    assert cmd is not None
    # The JSON form: no /bin/sh -c between the runtime and qscaler, so SIGTERM
    # reaches qscaler (which releases its Lease) and no shell is needed.
    assert entrypoint.json_form() == ["qscaler"]
    assert cmd.json_form() == ["run"]
    assert "qscaler" in PYPROJECT["scripts"]
    # deploy/base passes `args: ["run"]`, i.e. the same command.
    container = _deployment()["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == cmd.json_form()


def test_final_stage_inherits_no_build_tools(parsed: Dockerfile) -> None:
    build, final = parsed.stages[0], parsed.final
    assert len(parsed.stages) >= 2, "multi-stage: the wheel is built in a stage of its own"
    stage_names = {s.name for s in parsed.stages if s.name}
    assert final.image not in stage_names, "the final stage must not start FROM the build stage"
    # The venv's python is a symlink into the base image: same base in both stages.
    assert final.image == build.image
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", final.image), final.image
    assert final.all("RUN") == [], "no RUN in the final stage: nothing installed, no shell used"
    copies = final.copies()
    assert copies, "the final stage copies the venv"
    for copy in copies:
        assert copy.flags.get("from") in stage_names, f"{copy}: only built artefacts ship"
    assert [(c.sources, c.dest) for c in copies] == [((VENV,), VENV)]


def test_environment_is_read_only_root_friendly(parsed: Dockerfile) -> None:
    env = parsed.final.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith(f"{VENV}/bin:"), "the exec-form ENTRYPOINT finds qscaler on PATH"


def test_exposes_the_metrics_port(parsed: Dockerfile) -> None:
    expose = parsed.final.last("EXPOSE")
    assert expose is not None
    port = int(expose.args.split("/")[0])
    assert port == Settings().metrics_port
    container = _deployment()["spec"]["template"]["spec"]["containers"][0]
    assert [p["containerPort"] for p in container["ports"]] == [port]


def test_oci_labels_match_the_project(parsed: Dockerfile) -> None:
    final = parsed.final
    labels = {}
    for label in final.all("LABEL"):
        labels.update(label.pairs())
    args = final.args(parsed.global_args)
    labels = {k: dockerfile.substitute(v, args) for k, v in labels.items()}
    prefix = "org.opencontainers.image."
    for key in ("title", "description", "version", "revision", "licenses", "source"):
        assert labels.get(prefix + key), f"missing label {prefix}{key}"
    assert labels[prefix + "version"] == qscaler.__version__ == PYPROJECT["version"]
    assert labels[prefix + "description"] == PYPROJECT["description"]
    license_ = PYPROJECT["license"]  # a table today, an SPDX string in newer metadata
    assert labels[prefix + "licenses"] == (
        license_ if isinstance(license_, str) else license_["text"]
    )
    assert labels[prefix + "base.name"] == final.image
    # The tag deploy/base runs is the version the image is labelled with.
    container = _deployment()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].rsplit(":", 1)[1] == labels[prefix + "version"]


def test_build_stage_installs_from_the_lock_with_hashes(parsed: Dockerfile) -> None:
    runs = " ".join(i.args for i in parsed.stages[0].all("RUN"))
    assert "--require-hashes -r requirements.lock" in runs
    assert "--no-deps" in runs, "the lock is the whole dependency set: no resolution at build"
    assert "check" in runs, "pip check fails the build on an inconsistent venv"


# --- the build context ------------------------------------------------------------


def test_every_copied_source_exists_and_is_in_the_context(
    parsed: Dockerfile, context: set[str]
) -> None:
    for stage in parsed.stages:
        for copy in stage.copies():
            if "from" in copy.flags:
                continue
            for source in copy.sources:
                path = REPO / source
                assert path.exists(), f"COPY {source}: not in the repository"
                rel = source.rstrip("/")
                sent = {f for f in context if f == rel or f.startswith(rel + "/")}
                assert sent, f"COPY {source}: excluded by .dockerignore"


def test_context_holds_the_whole_package_and_nothing_else(
    parsed: Dockerfile, context: set[str]
) -> None:
    package = {
        p.relative_to(REPO).as_posix()
        for p in (REPO / "qscaler").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }
    missing = package - context
    assert not missing, f"package files left out of the image: {sorted(missing)}"
    copied = [s.rstrip("/") for st in parsed.stages for c in st.copies() for s in c.sources]
    stray = {f for f in context if not any(f == s or f.startswith(s + "/") for s in copied)}
    assert not stray, f"sent to the daemon but never copied: {sorted(stray)[:10]}"
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in context)


# --- the parser itself: the checks above are only as good as it is ------------------------


def test_parser_joins_continuations_and_keeps_json_forms() -> None:
    parsed = dockerfile.parse(
        "ARG BASE=python:3.11-slim\nFROM ${BASE} AS build\nRUN a \\\n  # note\n  && b\n"
        'FROM ${BASE}\nCOPY --from=build /x /x\nENTRYPOINT qscaler\nCMD ["run"]\n'
    )
    build, final = parsed.stages
    assert (build.image, build.name, final.image) == (
        "python:3.11-slim",
        "build",
        "python:3.11-slim",
    )
    assert [i.args for i in build.all("RUN")] == ["a && b"]
    assert final.copies()[0].flags == {"from": "build"}
    entrypoint = final.last("ENTRYPOINT")
    assert entrypoint is not None
    assert entrypoint.json_form() is None  # shell form: the test above would reject it
    cmd = final.last("CMD")
    assert cmd is not None
    assert cmd.json_form() == ["run"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("qscaler/cli.py", False, id="re-included-directory"),
        pytest.param("qscaler/sim/__pycache__/cli.cpython-311.pyc", True, id="pycache-below"),
        pytest.param("qscaler/x.pyo", True, id="bytecode-anywhere"),
        pytest.param(".venv/bin/python", True, id="excluded-by-star"),
        pytest.param("README.md", True, id="not-listed"),
        pytest.param("pyproject.toml", False, id="re-included-file"),
    ],
)
def test_ignore_rules_follow_docker_semantics(path: str, expected: bool) -> None:
    rules = dockerfile.ignore_rules("*\n!qscaler/\n!pyproject.toml\n**/__pycache__\n**/*.py[cod]\n")
    assert dockerfile.excluded(path, rules) is expected
