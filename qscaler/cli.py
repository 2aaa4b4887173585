"""The `qscaler` command line.

    qscaler plan     one pass: read bindings and queues, print what would happen
    qscaler run      the controller loop
    qscaler status   print a running qscaler's /status as a table

Settings come from `QSCALER_*` variables (see `qscaler.settings`); flags
override the few that people change per invocation. Configuration errors
exit with status 2 and one readable line.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from qscaler import __version__
from qscaler.errors import ConfigError, SettingsError
from qscaler.record.logs import configure_logging
from qscaler.record.status import render_table, status_document
from qscaler.settings import Settings, load_settings

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `qscaler` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.command(args)
    except ConfigError as exc:
        print(f"qscaler: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qscaler",
        description="Scale RabbitMQ consumer workloads on Kubernetes by queue depth.",
    )
    parser.add_argument("--version", action="version", version=f"qscaler {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    plan = sub.add_parser("plan", help="one pass: print each workload's decision")
    _bindings_flag(plan)
    plan.add_argument("--output", choices=("table", "json"), default="table")
    plan.set_defaults(command=cmd_plan)

    run = sub.add_parser("run", help="run the controller loop")
    _bindings_flag(run)
    run.add_argument("--dry-run", action="store_true", help="decide and report, never write")
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    run.set_defaults(command=cmd_run)

    status = sub.add_parser("status", help="print a running qscaler's /status")
    status.add_argument("--url", default="http://127.0.0.1:8080", help="qscaler's HTTP address")
    status.add_argument("--output", choices=("table", "json"), default="table")
    status.set_defaults(command=cmd_status)

    _register_extras(sub)
    return parser


def _register_extras(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands whose code lives in their own modules (simulation, demo, load)."""
    for module in ("qscaler.sim.cli", "qscaler.loadgen", "qscaler.importer.keda_cli"):
        try:
            register = __import__(module, fromlist=["register"]).register
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        register(sub)


def _bindings_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bindings",
        type=Path,
        help="read workloads from this YAML file (manifests or a short list), not the cluster",
    )


def _settings(**overrides: object) -> Settings:
    settings = load_settings(**overrides)
    configure_logging(settings.log_format, settings.log_level)
    return settings


def cmd_plan(args: argparse.Namespace) -> int:
    """Run one cycle in dry-run mode and print the outcome.

    Exits 1 when a vhost could not be read or a binding is invalid, so a
    script (or CI) notices; the table says which.
    """
    from qscaler.app import build_runtime

    settings = _settings(dry_run=True, leader_election=False)
    runtime = build_runtime(settings, bindings=args.bindings, serve_http=False)
    try:
        report = runtime.controller.cycle()
    finally:
        runtime.stop()
    document = status_document(report)
    if args.output == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(render_table(document))
    troubled = report.source_errors or any(o.error for o in report.outcomes)
    return 1 if troubled else 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the loop until stopped."""
    from qscaler.app import build_runtime, run_forever

    overrides: dict[str, object] = {}
    if args.dry_run or args.bindings is not None:
        overrides["dry_run"] = True
    if args.bindings is not None:
        overrides["leader_election"] = False
    settings = _settings(**overrides)
    runtime = build_runtime(settings, bindings=args.bindings)
    run_forever(runtime, settings.poll_interval_seconds, once=args.once)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Fetch /status and print it."""
    url = args.url.rstrip("/") + "/status"
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"--url {args.url}: must start with http:// or https://")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - scheme checked
            document = json.loads(response.read())
    except (OSError, ValueError) as exc:
        print(f"qscaler: cannot read {url}: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(render_table(document))
    return 0
