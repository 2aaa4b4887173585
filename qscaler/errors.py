"""Every error qscaler raises on purpose, in one small tree.

Callers catch the branch they can handle; the leaves say what went wrong in
words an operator can act on. Credentials never appear in a message: the
adapters build messages from URLs with the password removed.

    QscalerError
     ├── ConfigError                  something a human wrote is wrong
     │    ├── SettingsError           the process configuration: fatal at start-up
     │    └── BindingError            one workload's annotations: reported for that
     │                                workload only, every other workload keeps scaling
     ├── SourceError                  RabbitMQ could not be read (hold, never scale down)
     │    ├── SourceUnavailable       refused, timed out, 5xx: probably transient
     │    ├── SourceAuthError         401/403: credentials or permissions
     │    └── SourceDataError         the answer was not what the API documents
     ├── KubeError                    the Kubernetes API refused or failed a call
     │    ├── KubeForbidden           403: names the verb and resource RBAC lacks
     │    ├── KubeConflict            409 after retries with a fresh read
     │    └── KubeNotFound            the object went away (workload deleted)
     └── NotLeader                    the Lease was lost before a write: nothing written

The split between the two ConfigError leaves is the rule that keeps one bad
annotation from stopping the fleet; the split under SourceError is what the
metrics count (`kind` label) and what the fault-matrix tests assert.
"""

from __future__ import annotations


class QscalerError(Exception):
    """Base of every error qscaler raises on purpose."""


class ConfigError(QscalerError):
    """Something a human wrote is invalid."""


class SettingsError(ConfigError):
    """The process configuration is unusable; qscaler refuses to start."""


class BindingError(ConfigError):
    """One workload's annotations are invalid; only that workload is affected.

    `problems` holds one sentence per invalid annotation, each naming the
    annotation, the value and what would be valid, so that a single Event can
    list everything the user has to fix at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


class SourceError(QscalerError):
    """RabbitMQ could not be read. The loop holds the affected workloads."""

    kind = "error"


class SourceUnavailable(SourceError):
    """The broker refused the connection, timed out, or answered 5xx."""

    kind = "unavailable"


class SourceAuthError(SourceError):
    """The broker rejected the credentials or the user lacks permissions."""

    kind = "auth"


class SourceDataError(SourceError):
    """The broker answered with something the API does not document."""

    kind = "data"


class KubeError(QscalerError):
    """A Kubernetes API call failed.

    `verb` and `resource` say what was attempted (`patch`, `deployments/scale`),
    `status` is the HTTP status (0 when the server was not reached).
    """

    def __init__(self, verb: str, resource: str, status: int, detail: str) -> None:
        self.verb = verb
        self.resource = resource
        self.status = status
        if status == 0:
            super().__init__(
                f"{verb} {resource}: no answer from the Kubernetes API server: {detail}"
            )
        else:
            super().__init__(f"{verb} {resource} failed with HTTP {status}: {detail}")


class KubeForbidden(KubeError):
    """403: the ServiceAccount lacks the verb on the resource."""

    def __init__(self, verb: str, resource: str, status: int, detail: str) -> None:
        super().__init__(verb, resource, status, detail)
        self.args = (
            f"forbidden: qscaler may not {verb} {resource}; grant it in the ClusterRole "
            f"(see deploy/base/rbac.yaml). Server said: {detail}",
        )


class KubeConflict(KubeError):
    """409 that persisted through retries with a fresh read."""


class KubeNotFound(KubeError):
    """404: the object is gone, usually a workload deleted mid-cycle."""


class NotLeader(QscalerError):
    """This process no longer holds the Lease; the write was not made."""
