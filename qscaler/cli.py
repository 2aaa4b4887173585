"""The `qscaler` command line, and the `kubectl qscaler` plugin.

    qscaler plan     one pass: read bindings and queues, print what would happen
    qscaler run      the controller loop
    qscaler status   a running qscaler's /status as a table
    qscaler explain  one workload's binding, observation, decision and holds

Settings come from `QSCALER_*` variables (see `qscaler.settings`); flags
override the few that people change per invocation, with kubectl's names
(`--kubeconfig`, `--context`, `-n`). Exit codes are the contract a script or
a CI gate relies on (`qscaler.usage.EXIT_CODES`): 0 fine, 1 a workload needs
attention, 2 the command could not run. A user's mistake is one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from qscaler import __version__
from qscaler.errors import QscalerError, SourceError
from qscaler.record.logs import configure_logging
from qscaler.record.status import is_troubled, render_table, status_document
from qscaler.remote import DEFAULT_SERVICE, StatusUnavailable
from qscaler.settings import Settings, load_settings, unknown_variables
from qscaler.usage import EPILOGS, EXIT_CODES

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

OK, TROUBLED, UNUSABLE = 0, 1, 2
#: What `kubectl qscaler` offers: the commands that read, none that run.
KUBECTL_COMMANDS = ("status", "plan", "explain")

log = logging.getLogger("qscaler")


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print `prog: message (see prog --help)` and exit 2."""
        self.exit(UNUSABLE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None, prog: str = "qscaler") -> int:
    """Entry point of the `qscaler` console script."""
    return _run(_parser(prog), argv, prog)


def kubectl_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `kubectl-qscaler`, which kubectl runs as `kubectl qscaler`."""
    return _run(_parser("kubectl qscaler", KUBECTL_COMMANDS), argv, "kubectl qscaler")


def _run(parser: Parser, argv: Sequence[str] | None, prog: str) -> int:
    args = parser.parse_args(argv)
    if args.command is not cmd_run:  # `run` logs them, in its log format
        for warning in unknown_variables(os.environ):
            print(f"{prog}: warning: {warning}", file=sys.stderr)
    try:
        code: int = args.command(args)
    except QscalerError as exc:
        if isinstance(exc, SourceError):
            raise  # a source's errors are per workload; one escaping is a bug
        print(f"{prog}: {_one_line(exc)}", file=sys.stderr)
        return UNUSABLE
    except KeyboardInterrupt:
        return 130
    return code


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _parser(prog: str = "qscaler", only: Sequence[str] | None = None) -> Parser:
    parser = Parser(
        prog=prog,
        description="Scale RabbitMQ consumer workloads on Kubernetes by queue depth.",
        epilog=f"example:\n  {prog} plan --bindings examples/bindings.yaml\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"qscaler {__version__}")
    # Subcommands are `Parser`s too (argparse uses the parent's class).
    sub = cast("Subparsers", parser.add_subparsers(required=True, metavar="COMMAND"))
    builders = {
        "plan": _plan_parser, "run": _run_parser, "status": _status_parser,
        "explain": _explain_parser,
    }  # fmt: skip
    for name, build in builders.items():
        if only is None or name in only:
            build(sub)
    if only is None:
        _register_extras(sub)
    for name, command in sub.choices.items():
        command.epilog = EPILOGS.get(name, command.epilog)
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _plan_parser(sub: Subparsers) -> None:
    plan = sub.add_parser("plan", help="one pass: print each workload's decision")
    _bindings_flag(plan)
    _kube_flags(plan, "only this namespace's workloads (default: QSCALER_NAMESPACES, else all)")
    plan.add_argument("--output", choices=("table", "json"), default="table")
    plan.set_defaults(command=cmd_plan)


def _run_parser(sub: Subparsers) -> None:
    run = sub.add_parser("run", help="run the controller loop")
    _bindings_flag(run)
    _kube_flags(run, "watch only this namespace (default: QSCALER_NAMESPACES, else all)")
    run.add_argument("--dry-run", action="store_true", help="decide and report, never write")
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    run.set_defaults(command=cmd_run)


def _status_parser(sub: Subparsers) -> None:
    status = sub.add_parser("status", help="print a running qscaler's /status")
    _status_source_flags(status)
    status.add_argument("--output", choices=("table", "json"), default="table")
    status.set_defaults(command=cmd_status)


def _explain_parser(sub: Subparsers) -> None:
    explain = sub.add_parser(
        "explain", help="one workload: binding, observation, decision, what holds it back"
    )
    explain.add_argument("workload", metavar="WORKLOAD", help="NAME or NAMESPACE/NAME")
    _status_source_flags(explain)
    _bindings_flag(explain)
    explain.set_defaults(command=cmd_explain)


def _status_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="read this qscaler directly, e.g. http://127.0.0.1:8080 "
        "(default: through the API server's service proxy)",
    )  # fmt: skip
    parser.add_argument(
        "--service", default=DEFAULT_SERVICE, metavar="NAMESPACE/NAME",
        help=f"qscaler's Service, for the service proxy (default {DEFAULT_SERVICE})",
    )  # fmt: skip
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="per request (default 10)",
    )
    _kube_flags(parser, "only this namespace's workloads")


def _seconds(text: str) -> float:
    """A flag's number of seconds: finite and above 0 (a socket refuses the rest)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


def _kube_flags(parser: argparse.ArgumentParser, namespace_help: str) -> None:
    parser.add_argument(
        "--kubeconfig", type=Path, metavar="FILE",
        help="the kubeconfig (default: QSCALER_KUBECONFIG, in-cluster, KUBECONFIG, ~/.kube/config)",
    )  # fmt: skip
    parser.add_argument("--context", help="the kubeconfig context (default: its current one)")
    parser.add_argument("-n", "--namespace", help=namespace_help)


def _register_extras(sub: Subparsers) -> None:
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
        "--bindings", type=Path, metavar="FILE",
        help="read workloads from this YAML file (manifests or a short list), not the cluster",
    )  # fmt: skip


def _settings(
    args: argparse.Namespace, overrides: dict[str, object], warn: bool = False
) -> Settings:
    """The settings, with the kubectl-style flags laid over them; with `warn`,
    a logged warning for every QSCALER_* variable that no setting reads."""
    if args.kubeconfig is not None:
        overrides["kubeconfig"] = args.kubeconfig
    if args.context is not None:
        overrides["kube_context"] = args.context
    if args.namespace is not None:
        overrides["namespaces"] = [args.namespace]
    settings = load_settings(**overrides)
    configure_logging(settings.log_format, settings.log_level)
    for warning in unknown_variables(os.environ) if warn else ():
        log.warning(warning)
    return settings


def one_pass(args: argparse.Namespace) -> dict[str, Any]:
    """One dry-run cycle (from the cluster, or --bindings FILE) as a status document.

    Unless QSCALER_LOG_LEVEL says otherwise its log is only what the table
    cannot show (a manifest skipped, an unknown variable): a line per
    decision or per warning on stderr would repeat the table.
    """
    from qscaler.app import build_runtime

    quiet = "QSCALER_LOG_LEVEL" not in os.environ
    overrides: dict[str, object] = {"dry_run": True, "leader_election": False}
    if quiet:
        overrides["log_level"] = "WARNING"
    settings = _settings(args, overrides)
    if quiet:  # each workload's warning is in the table already
        logging.getLogger("qscaler.error").setLevel(logging.ERROR)
    runtime = build_runtime(settings, bindings=args.bindings, serve_http=False, one_shot=True)
    try:
        report = runtime.controller.cycle()
    finally:
        runtime.stop()
    return status_document(report)


def cmd_plan(args: argparse.Namespace) -> int:
    """Run one cycle in dry-run mode and print the outcome; exit 1 when a
    workload has a Warning reason, so a script (or CI) notices."""
    document = one_pass(args)
    _print(document, args.output)
    return TROUBLED if is_troubled(document) else OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the loop until stopped."""
    from qscaler.app import build_runtime, run_forever

    overrides: dict[str, object] = {}
    if args.dry_run or args.bindings is not None:
        overrides["dry_run"] = True
    if args.bindings is not None:
        overrides["leader_election"] = False
    settings = _settings(args, overrides, warn=True)
    runtime = build_runtime(settings, bindings=args.bindings)
    run_forever(runtime, settings.poll_interval_seconds, once=args.once)
    return OK


def running_status(args: argparse.Namespace) -> dict[str, Any]:
    """A running qscaler's status document: from --url, else through the API server."""
    from qscaler.remote import read_through_api, read_url

    if args.url is not None:
        document = read_url(args.url, args.timeout)
    else:
        kubeconfig = args.kubeconfig or _env_path("QSCALER_KUBECONFIG")
        document = read_through_api(args.service, kubeconfig, args.context, args.timeout)
    if args.namespace is not None:
        kept = [w for w in document["workloads"] if w["namespace"] == args.namespace]
        document = {**document, "workloads": kept}
    return document


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def cmd_status(args: argparse.Namespace) -> int:
    """Fetch /status and print it; exit 1 when a workload has a Warning reason."""
    document = running_status(args)
    if document.get("leader") is False and args.url is None:
        print(f"{args.service}: no replica answered as the leader", file=sys.stderr)
    with _sent_by(args.url or args.service):
        _print(document, args.output)
    return TROUBLED if is_troubled(document) else OK


@contextmanager
def _sent_by(source: str) -> Iterator[None]:
    """Around printing a status document another qscaler sent: a field it lacks
    or types differently (another version) is one line, not a traceback."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StatusUnavailable(
            f"{source}: its status document lacks or mistypes a field this qscaler prints "
            f"({type(exc).__name__} {exc}); is it another version?"
        ) from None


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain one workload; exit 1 when it has a Warning reason."""
    from qscaler.record.explain import find_workload, render_explain

    if args.bindings is not None:
        workload = find_workload(one_pass(args), args.workload, args.namespace)
        print(render_explain(workload))
    else:
        workload = find_workload(running_status(args), args.workload, args.namespace)
        with _sent_by(args.url or args.service):
            print(render_explain(workload))
    return TROUBLED if is_troubled({"workloads": [workload]}) else OK


def _print(document: dict[str, Any], output: str) -> None:
    if output == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(render_table(document))
