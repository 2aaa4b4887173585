"""`qscaler import keda FILE|-`: KEDA ScaledObjects in, qscaler bindings out.

Reads a file or standard input, never the cluster. Exit status: 0 when every
ScaledObject was converted, 1 when some could not be (each says why; the
others are printed as usual), 2 when the input is unreadable or holds no
ScaledObject (one line on standard error).

Input is read up to `MAX_INPUT_BYTES`: the ScaledObjects and
TriggerAuthentications of a large cluster are a few megabytes, while a
runaway pipe (a whole cluster's `kubectl get all -o yaml`, a log file) would
otherwise be parsed for minutes before saying anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qscaler.errors import ConfigError
from qscaler.importer.keda_brokers import assign_brokers
from qscaler.importer.keda_map import convert
from qscaler.importer.keda_objects import load_objects
from qscaler.importer.keda_render import patches_yaml, report, script

#: 16 MiB: about 8,000 ScaledObjects as `kubectl get -o yaml` prints them; parsed in 2-3 s.
MAX_INPUT_BYTES = 16 * 1024 * 1024

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Subparsers) -> None:
    """Add `import keda` to the `qscaler` command line."""
    importer = sub.add_parser(
        "import", help="turn another autoscaler's configuration into qscaler's"
    )
    kinds = importer.add_subparsers(required=True, metavar="FROM")
    keda = kinds.add_parser(
        "keda", help="ScaledObjects with rabbitmq triggers → qscaler labels and annotations"
    )
    keda.add_argument(
        "file", metavar="FILE|-", help="YAML (as kubectl get -o yaml prints), - for stdin"
    )
    keda.add_argument(
        "--output", choices=("report", "kubectl", "kustomize"), default="report",
        help="report (default): everything; kubectl: the commands; kustomize: the patches",
    )  # fmt: skip
    keda.set_defaults(command=cmd_import_keda)


def cmd_import_keda(args: argparse.Namespace) -> int:
    """Convert and print; see the module docstring for the exit status."""
    origin = "stdin" if args.file == "-" else args.file
    objects = load_objects(_read(args.file), origin)
    if not objects.scaled_objects:
        raise ConfigError(f"{origin}: no KEDA ScaledObject (apiVersion keda.sh/v1alpha1) found")
    conversions = [convert(so, objects) for so in objects.scaled_objects]
    brokers = assign_brokers(conversions)
    if args.output == "kubectl":
        sys.stdout.write(script(conversions))
    elif args.output == "kustomize":
        sys.stdout.write(patches_yaml(conversions))
    else:
        sys.stdout.write(report(conversions, objects, brokers))
    failed = [c for c in conversions if c.error is not None]
    for c in failed:
        print(f"qscaler: ScaledObject {c.scaled_object} not converted: {c.error}", file=sys.stderr)
    return 1 if failed else 0


def _read(name: str) -> str:
    origin = "stdin" if name == "-" else name
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(name).open("rb") as file:
                data = file.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise ConfigError(
                f"{origin}: larger than {MAX_INPUT_BYTES // 2**20} MiB; import the KEDA objects "
                "alone (kubectl get scaledobject,triggerauthentication -o yaml), or one "
                "namespace at a time"
            )
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{origin}: cannot read ({reason})") from None
