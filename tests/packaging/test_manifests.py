"""deploy/, rendered with kustomize and applied to the real test API server.

Each kustomization is rendered by the `kubectl kustomize` built with the
control plane and applied with server-side apply in dry-run, so the API
server validates every object against its real schemas (the ServiceMonitor's
CRD is not installed there: that failure is asserted, named). deploy/base is
then applied for real (as the e2e tests do) and the qscaler ServiceAccount's
permissions are asked of the API server with `kubectl auth can-i`: every verb
qscaler uses is granted, and a sample of what it must not do (Secrets above
all) is refused. The namespaced overlay is applied for real too, into fresh
namespaces, to show its grants stop at the one namespace it watches.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.settings import Settings
from tests.harness.k8s import ControlPlane, bin_dir, wait_for

pytestmark = pytest.mark.k8s

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SYSTEM = "qscaler-system"
SA = f"{SYSTEM}:qscaler"
MANAGER = "qscaler-e2e"  # the e2e fixture's field manager: both apply the same base


def _render(plane: ControlPlane, folder: str) -> str:
    return plane.kubectl("kustomize", str(DEPLOY / folder))


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _apply(plane: ControlPlane, rendered: str, *, dry_run: bool) -> str:
    args = ["apply", "--server-side", f"--field-manager={MANAGER}", "-f", "-"]
    return plane.kubectl(*args, *(["--dry-run=server"] if dry_run else []), stdin=rendered)


def _ensure_namespace(plane: ControlPlane, name: str) -> None:
    plane.kubectl(
        "apply", "--server-side", f"--field-manager={MANAGER}", "-f", "-",
        stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )  # fmt: skip


@pytest.fixture(scope="module")
def base(control_plane: ControlPlane) -> list[dict[str, Any]]:
    return _docs(_render(control_plane, "base"))


@pytest.fixture(scope="module")
def applied_base(control_plane: ControlPlane) -> str:
    """deploy/base applied for real (idempotent with the e2e fixture's apply)."""
    return _apply(control_plane, _render(control_plane, "base"), dry_run=False)


# --- every kustomization passes the API server's validation ---------------------------


@pytest.mark.parametrize("folder", ["base", "overlays/namespaced", "overlays/brokers", "examples"])
def test_kustomization_applies_server_side(control_plane: ControlPlane, folder: str) -> None:
    rendered = _render(control_plane, folder)
    docs = _docs(rendered)
    assert docs
    # A dry run creates nothing, so the namespaces the objects go into must
    # exist first: qscaler-system (as the base defines it) and `apps`, which
    # the overlay and the examples expect the user to have.
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    if namespaces:
        _apply(control_plane, yaml.safe_dump_all(namespaces), dry_run=False)
    _ensure_namespace(control_plane, "apps")
    out = _apply(control_plane, rendered, dry_run=True)
    for doc in docs:
        assert f"{doc['metadata']['name']} serverside-applied (server dry run)" in out, doc["kind"]


def test_servicemonitor_needs_the_prometheus_operator_crd(control_plane: ControlPlane) -> None:
    rendered = _render(control_plane, "servicemonitor")
    monitor = _one(_docs(rendered), "ServiceMonitor")
    # The test API server has no prometheus-operator: the kind is unknown
    # there, which is exactly what a cluster without the operator says.
    with pytest.raises(RuntimeError, match='no matches for kind "ServiceMonitor"'):
        _apply(control_plane, rendered, dry_run=True)
    # What it can be checked against: it selects the metrics Service and scrapes
    # a port that Service names.
    service = _one(_docs(_render(control_plane, "base")), "Service")
    labels = service["metadata"]["labels"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


# --- what the issue asks of deploy/base ---------------------------------------------------


def test_deployment_is_hardened(base: list[dict[str, Any]]) -> None:
    deployment = _one(base, "Deployment", "qscaler")
    assert deployment["spec"]["replicas"] == 2, "two replicas, one leader (Lease)"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "qscaler"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    # The read-only root needs a writable /tmp, and nothing else.
    writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]


def test_probes_use_the_health_endpoints(base: list[dict[str, Any]]) -> None:
    container = _one(base, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port == {"http": Settings().metrics_port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] > 60, "outlasts the cache wait"


def test_resources_are_requested_and_memory_limited(base: list[dict[str, Any]]) -> None:
    resources = _one(base, "Deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_pdb_keeps_one_replica(base: list[dict[str, Any]]) -> None:
    pdb = _one(base, "PodDisruptionBudget")
    template = _one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= template.items()


def test_cluster_role_grants_nothing_on_secrets(base: list[dict[str, Any]]) -> None:
    for doc in base:
        if doc["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in doc["rules"]:
            assert "*" not in rule["verbs"], doc["metadata"]["name"]
            assert "*" not in rule.get("apiGroups", []), doc["metadata"]["name"]
            assert not {"*", "secrets"} & set(rule["resources"]), doc["metadata"]["name"]


def test_the_forecast_store_may_touch_only_its_configmap_but_create(
    base: list[dict[str, Any]],
) -> None:
    """get and patch name the one ConfigMap the default settings use; create,
    which resourceNames cannot restrict, is the only verb left open, and only
    in qscaler's namespace. Nothing else in the base grants ConfigMaps."""
    role = _one(base, "Role", "qscaler-forecast-store")
    assert role["metadata"]["namespace"] == SYSTEM
    named = [r for r in role["rules"] if "resourceNames" in r]
    assert named == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [Settings.model_fields["forecast_store_name"].default],
            "verbs": ["get", "patch"],
        }
    ]
    unnamed = [r for r in role["rules"] if "resourceNames" not in r]
    assert unnamed == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]
    others = [d for d in base if d["kind"] in ("ClusterRole", "Role") and d is not role]
    assert not [r for d in others for r in d["rules"] if "configmaps" in r["resources"]]
    binding = _one(base, "RoleBinding", "qscaler-forecast-store")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "qscaler", "namespace": SYSTEM}
    ]


def test_credentials_secret_is_an_example_mounted_as_the_files_settings_read(
    base: list[dict[str, Any]],
) -> None:
    assert not [d for d in base if d["kind"] == "Secret"], "base must not ship credentials"
    example = _docs((DEPLOY / "base" / "secret-example.yaml").read_text())[0]
    pod = _one(base, "Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "secret" in v)
    assert volume["secret"]["secretName"] == example["metadata"]["name"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    files = {env["QSCALER_USERNAME_FILE"], env["QSCALER_PASSWORD_FILE"]}
    assert files == {f"{mount['mountPath']}/{key}" for key in example["stringData"]}


@pytest.mark.parametrize("folder", ["base", "overlays/namespaced", "overlays/brokers"])
def test_environment_names_real_settings(control_plane: ControlPlane, folder: str) -> None:
    deployment = _one(_docs(_render(control_plane, folder)), "Deployment")
    names = [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
    settings = [n for n in names if n.startswith("QSCALER_")]
    unknown = [
        n for n in settings if n.removeprefix("QSCALER_").lower() not in Settings.model_fields
    ]
    assert not unknown


# --- the namespaced overlay ------------------------------------------------------------------


def test_overlay_grants_the_cluster_roles_rules_in_the_watched_namespace(
    control_plane: ControlPlane, base: list[dict[str, Any]]
) -> None:
    overlay = _docs(_render(control_plane, "overlays/namespaced"))
    assert not [d for d in overlay if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = _one(overlay, "Role", "qscaler")
    assert role["rules"] == _one(base, "ClusterRole", "qscaler")["rules"]
    env = {
        e["name"]: e.get("value")
        for e in _one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["QSCALER_NAMESPACES"] == role["metadata"]["namespace"]
    binding = _one(overlay, "RoleBinding", "qscaler")
    assert binding["metadata"]["namespace"] == env["QSCALER_NAMESPACES"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "qscaler", "namespace": SYSTEM}
    ]


# --- the examples ---------------------------------------------------------------------------


def test_examples_are_valid_bindings_that_leave_replicas_to_qscaler(
    control_plane: ControlPlane,
) -> None:
    examples = _docs(_render(control_plane, "examples"))
    deployments = [d for d in examples if d["kind"] == "Deployment"]
    assert len(deployments) == 2
    for deployment in deployments:
        assert deployment["metadata"]["labels"]["qscaler.io/enabled"] == "true"
        parse_binding(deployment["metadata"]["annotations"], ProcessDefaults())
        assert "replicas" not in deployment["spec"], "GitOps: qscaler owns spec.replicas"
    hpa = _one(examples, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] in {d["metadata"]["name"] for d in deployments}


# --- the permissions the API server grants ------------------------------------------------------


def _can_i(
    plane: ControlPlane,
    subject: str,
    verb: str,
    resource: str,
    namespace: str | None,
    subresource: str | None = None,
) -> bool:
    args = [str(bin_dir() / "kubectl"), f"--kubeconfig={plane.kubeconfig}", "auth", "can-i"]
    args += [verb, resource, f"--as=system:serviceaccount:{subject}"]
    args += ["--all-namespaces"] if namespace is None else ["-n", namespace]
    if subresource:
        args.append(f"--subresource={subresource}")
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    answer = done.stdout.strip()
    assert (done.returncode, answer) in ((0, "yes"), (1, "no")), done.stderr
    return answer == "yes"


ALL = None  # every namespace
NEEDED = [
    ("list", "deployments.apps", ALL, None),
    ("watch", "deployments.apps", ALL, None),
    ("list", "statefulsets.apps", ALL, None),
    ("watch", "statefulsets.apps", ALL, None),
    ("patch", "deployments.apps", "apps", "scale"),
    ("patch", "statefulsets.apps", "apps", "scale"),
    ("list", "horizontalpodautoscalers.autoscaling", ALL, None),
    ("watch", "horizontalpodautoscalers.autoscaling", ALL, None),
    ("get", "horizontalpodautoscalers.autoscaling", "apps", None),
    ("patch", "horizontalpodautoscalers.autoscaling", "apps", None),
    ("create", "events", "apps", None),
    ("patch", "events", "apps", None),
    ("get", "leases.coordination.k8s.io", SYSTEM, None),
    ("create", "leases.coordination.k8s.io", SYSTEM, None),
    ("update", "leases.coordination.k8s.io", SYSTEM, None),
    ("get", "configmaps/qscaler-forecast", SYSTEM, None),
    ("patch", "configmaps/qscaler-forecast", SYSTEM, None),
    ("create", "configmaps", SYSTEM, None),
]
FORBIDDEN = [
    ("get", "secrets", SYSTEM, None),
    ("list", "secrets", ALL, None),
    ("watch", "secrets", "apps", None),
    ("get", "deployments.apps", "apps", None),
    ("patch", "deployments.apps", "apps", None),
    ("update", "deployments.apps", "apps", None),
    ("update", "deployments.apps", "apps", "scale"),
    ("delete", "pods", "apps", None),
    ("create", "horizontalpodautoscalers.autoscaling", "apps", None),
    ("update", "leases.coordination.k8s.io", "apps", None),
    ("delete", "leases.coordination.k8s.io", SYSTEM, None),
    ("impersonate", "serviceaccounts", ALL, None),
    ("get", "configmaps/another", SYSTEM, None),
    ("patch", "configmaps/another", SYSTEM, None),
    ("list", "configmaps", SYSTEM, None),
    ("delete", "configmaps/qscaler-forecast", SYSTEM, None),
    ("create", "configmaps", "apps", None),
    ("get", "configmaps/qscaler-forecast", "apps", None),
]


def _id(case: tuple[str, str, str | None, str | None]) -> str:
    verb, resource, namespace, sub = case
    return f"{verb}-{resource.split('.')[0]}{'/' + sub if sub else ''}-in-{namespace or 'all'}"


@pytest.mark.parametrize("case", NEEDED, ids=[_id(c) for c in NEEDED])
def test_service_account_may_do_what_qscaler_does(
    control_plane: ControlPlane, applied_base: str, case: tuple[str, str, str | None, str | None]
) -> None:
    assert _can_i(control_plane, SA, *case)


@pytest.mark.parametrize("case", FORBIDDEN, ids=[_id(c) for c in FORBIDDEN])
def test_service_account_may_not_do_more(
    control_plane: ControlPlane, applied_base: str, case: tuple[str, str, str | None, str | None]
) -> None:
    assert not _can_i(control_plane, SA, *case)


def test_restricted_namespace_admits_the_qscaler_pods(
    control_plane: ControlPlane, applied_base: str
) -> None:
    # qscaler-system enforces the "restricted" Pod Security Standard: had the
    # pod spec broken it, the ReplicaSet could not create a single pod.
    namespace = _one(_docs(_render(control_plane, "base")), "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    core = control_plane.core()
    wait_for(
        "the ReplicaSet to create both qscaler pods",
        lambda: (
            len(
                core.list_namespaced_pod(
                    SYSTEM, label_selector="app.kubernetes.io/name=qscaler"
                ).items
            )
            >= 2
        ),
    )


@pytest.fixture
def relocated_overlay(control_plane: ControlPlane) -> Iterator[tuple[str, str]]:
    """The namespaced overlay applied for real, its two namespaces renamed to fresh ones."""
    system, apps = control_plane.namespace("qs"), control_plane.namespace("apps")
    names = {SYSTEM: system, "apps": apps}
    docs = [_relocated(doc, names) for doc in _docs(_render(control_plane, "overlays/namespaced"))]
    _apply(control_plane, yaml.safe_dump_all(docs), dry_run=False)
    yield system, apps
    core = control_plane.core()
    for name in (system, apps):
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def _relocated(doc: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    assert doc["kind"] not in ("ClusterRole", "ClusterRoleBinding")
    if doc["kind"] == "Namespace":
        meta["name"] = names[meta["name"]]
    if "namespace" in meta:
        meta["namespace"] = names[meta["namespace"]]
    for subject in doc.get("subjects", []):
        subject["namespace"] = names[subject["namespace"]]
    if doc["kind"] == "Deployment":
        for env in doc["spec"]["template"]["spec"]["containers"][0]["env"]:
            if env["name"] == "QSCALER_NAMESPACES":
                env["value"] = ",".join(names[n] for n in env["value"].split(","))
    return doc


def test_namespaced_overlay_grants_stop_at_the_watched_namespace(
    control_plane: ControlPlane, relocated_overlay: tuple[str, str]
) -> None:
    system, apps = relocated_overlay
    subject = f"{system}:qscaler"
    granted = {
        ("list", "deployments.apps", apps, None),
        ("watch", "statefulsets.apps", apps, None),
        ("patch", "deployments.apps", apps, "scale"),
        ("patch", "horizontalpodautoscalers.autoscaling", apps, None),
        ("create", "events", apps, None),
        ("update", "leases.coordination.k8s.io", system, None),
    }
    refused = {
        ("list", "deployments.apps", ALL, None),
        ("list", "deployments.apps", "default", None),
        ("patch", "deployments.apps", "default", "scale"),
        ("create", "events", "default", None),
        ("get", "secrets", apps, None),
    }
    wait_for(
        "the overlay's RoleBinding to take effect",
        lambda: _can_i(control_plane, subject, "list", "deployments.apps", apps),
        timeout=30,
    )
    assert {c for c in granted if _can_i(control_plane, subject, *c)} == granted
    assert {c for c in refused if _can_i(control_plane, subject, *c)} == set()
