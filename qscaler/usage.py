"""The words of `--help`: one example per command, the variables that matter,
and the exit codes a script or a CI gate can rely on.

Kept apart from the parser so that `qscaler.cli` stays about behaviour, and so
that the README's command list and these texts are easy to compare.
"""

from __future__ import annotations

EXIT_CODES = """\
exit status:
  0  every workload is fine
  1  a workload has a Warning reason: InvalidBinding, QueueMissing, BacklogUnknown,
     SourceError, SourceStale, FallbackReplicas or WriteFailed (the table says which)
  2  a usage or configuration error, or the cluster or qscaler could not be reached"""

BROKER = """\
environment (all settings: qscaler run --help):
  QSCALER_MANAGEMENT_URL    RabbitMQ's management API (default http://localhost:15672)
  QSCALER_USERNAME, QSCALER_PASSWORD (or QSCALER_PASSWORD_FILE)   its credentials"""

KUBE = """\
  KUBECONFIG, QSCALER_KUBECONFIG   the kubeconfig (default: in-cluster, else ~/.kube/config)"""

EPILOGS = {
    "plan": f"""\
example:
  QSCALER_MANAGEMENT_URL=http://rabbitmq:15672 qscaler plan -n apps
  qscaler plan --bindings examples/bindings.yaml --output json

{BROKER}
{KUBE}

{EXIT_CODES}""",
    "run": f"""\
example:
  QSCALER_MANAGEMENT_URL=http://rabbitmq:15672 qscaler run --dry-run -n apps

{BROKER}
{KUBE}
  QSCALER_METRICS_PORT      /metrics, /healthz, /readyz, /status (default 8080)
  QSCALER_DRY_RUN           decide and report, never write (default false)
  every other QSCALER_* setting is listed in the README's Settings table

exit status: 0 when stopped by SIGTERM or SIGINT (or after --once), 2 on a
configuration error (one line naming it)""",
    "status": f"""\
example:
  qscaler status                         # through the API server: no port-forward
  qscaler status --url http://127.0.0.1:8080 -n apps

Without --url the status is read through the API server's service proxy with
your kubeconfig: you need `get` on `services/proxy` in qscaler's namespace.
{KUBE}

{EXIT_CODES}""",
    "explain": f"""\
example:
  qscaler explain orders-consumer -n apps
  qscaler explain apps/orders-consumer --bindings examples/bindings.yaml

Prints the workload's binding, what qscaler last read, the decision with its
arithmetic, and what holds it back; from a running qscaler (as `status` reads
it), or from one pass over --bindings FILE.
{KUBE}

{EXIT_CODES}""",
    "simulate": """\
example:
  qscaler simulate bench/traces/spikes.csv --policy bench/policy.yaml --chart run.png

The policy file's min-replicas and max-replicas bound the run; --min-replicas
and --max-replicas override them only when given.

exit status: 0 on success, 2 on a bad trace, policy or flag (one line)""",
    "bench": """\
example:
  qscaler bench bench/traces --policy bench/policy.yaml --output results.md

exit status: 0 on success, 2 on a bad folder, trace or policy (one line)""",
    "demo": """\
example:
  qscaler demo --no-chart --speed 0
  QSCALER_METRICS_PORT=9100 qscaler demo --policy my-policy.yaml

environment:
  QSCALER_METRICS_PORT      where /metrics is served while the demo runs (default 8080)

exit status: 0 on success, 2 on a bad trace, policy or flag (one line)""",
    "import": """\
example:
  kubectl get scaledobject,triggerauthentication -A -o yaml | qscaler import keda -
  qscaler import keda scaledobjects.yaml --output kustomize

Reads a file or standard input, never the cluster.

exit status: 0 when every ScaledObject was converted, 1 when some could not be
(each says why), 2 when the input is unreadable or holds no ScaledObject""",
    "loadgen": """\
example:
  QSCALER_AMQP_URL=amqp://guest:guest@localhost:5672 qscaler loadgen --queue orders \\
      --declare --publish-rate 50 --consumers 2 --processing-time 0.1

environment:
  QSCALER_AMQP_URL          the broker (default amqp://localhost:5672)
  QSCALER_USERNAME, QSCALER_PASSWORD   used when the URL has no credentials

exit status: 0 when done, 1 when the broker cannot be reached or a publish
failed, 2 on a bad flag (one line)""",
}
