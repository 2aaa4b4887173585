"""`qscaler import keda`: KEDA ScaledObjects written from KEDA's documented schema
(tests/fixtures/keda) → the annotations qscaler needs, and what is not carried."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from qscaler.brokers import load_brokers
from qscaler.cli import main
from qscaler.core.binding import ProcessDefaults, parse_binding
from qscaler.importer.keda_behavior import limit
from qscaler.importer.keda_brokers import assign_brokers, brokers_file
from qscaler.importer.keda_map import Conversion, convert
from qscaler.importer.keda_objects import load_objects
from qscaler.importer.keda_render import kubectl_commands, patches_yaml
from qscaler.settings import load_settings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "keda" / "scaledobjects.yaml"


def conversions(text: str | None = None) -> dict[str, Conversion]:
    objects = load_objects(text if text is not None else FIXTURE.read_text(), "test")
    converted = [convert(so, objects) for so in objects.scaled_objects]
    assign_brokers(converted)
    return {c.scaled_object: c for c in converted}


def test_queue_length_with_every_scaled_object_field() -> None:
    c = conversions()["shop/orders"]
    assert c.error is None
    assert c.annotations == {
        "qscaler.io/queues": "orders,orders-priority",
        "qscaler.io/vhost": "shop",
        "qscaler.io/aggregate": "max",
        "qscaler.io/count": "ready",
        "qscaler.io/messages-per-replica": "50",
        "qscaler.io/activation-messages": "5",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/max-replicas": "40",
        "qscaler.io/cooldown": "600s",
        "qscaler.io/scale-up-limit": "16",
        "qscaler.io/scale-down-limit": "34%",
        "qscaler.io/fallback-replicas": "6",
        "qscaler.io/mode": "paused",
    }
    lost = "\n".join(c.lost)
    assert "trigger 3 (cpu): stays with a CPU HPA" in lost
    assert "QSCALER_FALLBACK_AFTER_FAILURES=5" in lost
    assert "Secret rabbit-conn key password" in lost
    assert "pollingInterval 10" in lost
    plan = "\n".join(c.removal)
    assert "restoreToOriginalReplicaCount to false" in plan
    assert "orders-keda is owned by the ScaledObject" in plan
    assert "re-create the cpu scaling as a plain autoscaling/v2 HPA" in plan


def test_message_rate_regex_several_brokers_and_paused_replicas() -> None:
    c = conversions()["shop/events"]
    assert c.kind == "StatefulSet"
    assert c.annotations == {
        "qscaler.io/queues": r"re:^events\..*$",
        "qscaler.io/broker": "rabbit-a",
        "qscaler.io/vhost": "events",
        "qscaler.io/aggregate": "max",
        "qscaler.io/messages-per-replica": "1500",
        "qscaler.io/target-drain-seconds": "60",
        "qscaler.io/activation-messages": "1",
        "qscaler.io/min-replicas": "0",
        "qscaler.io/max-replicas": "20",
        "qscaler.io/cooldown": "300s",
        "qscaler.io/fallback-replicas": "20",
        "qscaler.io/mode": "paused",
    }
    carried, lost = "\n".join(c.carried), "\n".join(c.lost)
    assert "messages-per-replica 25 × 60 = 1500" in carried
    assert "1500% per minute: unlimited" in carried
    assert "clamped into 0..20" in carried
    assert "trigger 3 (kafka): qscaler reads only RabbitMQ" in lost
    assert "trigger 2 (rabbitmq, queue audit)" in lost
    assert "selectPolicy Disabled" in lost
    assert "idleReplicaCount 0 with minReplicaCount 2" in lost
    assert "paused-replicas 3" in lost
    assert "--cascade=orphan" in "\n".join(c.removal)


def test_consumption_time_and_ratio_become_rate_aware() -> None:
    c = conversions()["notify/mail"]
    assert c.annotations["qscaler.io/target-drain-seconds"] == "60"
    assert c.annotations["qscaler.io/broker"] == "rabbitmq-url"
    assert "messages-per-replica" not in "".join(c.annotations)
    assert "target-drain-seconds 60: the least of 90, 60" in "\n".join(c.carried)
    lost = "\n".join(c.lost)
    assert "PublishedToDeliveredRatio" in lost
    assert "ClusterTriggerAuthentication global-rabbit" in lost
    assert "env RABBITMQ_URL" in lost


def test_objects_that_cannot_be_converted_say_why() -> None:
    found = conversions()
    assert found["shop/rollout"].error == (
        "targets a Rollout: qscaler scales Deployments and StatefulSets"
    )
    assert "no rabbitmq trigger" in (found["shop/web-cpu"].error or "")


def test_every_translation_is_a_valid_qscaler_binding() -> None:
    brokers = ProcessDefaults(brokers=("default", "rabbit-a", "rabbitmq-url"))
    for c in conversions().values():
        if c.error is None:
            parse_binding(c.annotations, brokers)


def test_credentials_in_a_host_are_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "keda", str(FIXTURE)]) == 1
    out, err = capsys.readouterr()
    assert "s3cr3t" not in out + err
    assert "host carries credentials (not printed)" in out


def test_the_kubectl_commands_set_exactly_the_annotations() -> None:
    c = conversions()["shop/events"]
    label, *annotate = kubectl_commands(c)
    assert shlex.split(label)[-1] == "qscaler.io/enabled=true"
    words = shlex.split(" ".join(line.rstrip("\\") for line in annotate))
    assert words[:6] == [
        "kubectl",
        "-n",
        "shop",
        "annotate",
        "--overwrite",
        "statefulset/events-worker",
    ]
    assert dict(w.split("=", 1) for w in words[6:]) == c.annotations


def test_the_kustomize_patches_carry_the_label_and_annotations() -> None:
    found = conversions()
    patches = list(yaml.safe_load_all(patches_yaml(list(found.values()))))
    assert [p["metadata"]["name"] for p in patches] == [
        "orders-consumer",
        "events-worker",
        "mailer",
    ]
    for patch in patches:
        c = next(c for c in found.values() if c.name == patch["metadata"]["name"])
        assert patch["metadata"]["labels"] == {"qscaler.io/enabled": "true"}
        assert patch["metadata"]["annotations"] == c.annotations


def test_a_kubectl_list_reads_like_separate_documents() -> None:
    documents = list(yaml.safe_load_all(FIXTURE.read_text()))
    listed = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": documents})
    as_list = conversions(listed)
    separate = conversions()
    assert {k: v.annotations for k, v in as_list.items()} == {
        k: v.annotations for k, v in separate.items()
    }


@pytest.mark.parametrize(
    ("policies", "select", "expected"),
    [
        ([{"type": "Pods", "value": 4, "periodSeconds": 15}], "Max", "16"),
        ([{"type": "Pods", "value": 1, "periodSeconds": 120}], "Max", "1"),
        ([{"type": "Percent", "value": 50, "periodSeconds": 60}], "Max", "50%"),
        ([{"type": "Percent", "value": 100, "periodSeconds": 15}], "Max", None),
        (
            [{"type": "Pods", "value": 2, "periodSeconds": 60}, {"type": "Percent", "value": 50}],
            "Min",
            "2",
        ),
        (
            [{"type": "Pods", "value": 2, "periodSeconds": 60}, {"type": "Percent", "value": 50}],
            "Max",
            "50%",
        ),
    ],
    ids=["pods-per-15s", "pods-per-2min", "percent-per-minute", "beyond-1000%", "min", "max"],
)
def test_scale_up_policies_per_minute(
    policies: list[dict[str, Any]], select: str, expected: str | None
) -> None:
    behavior = {"scaleUp": {"selectPolicy": select, "policies": policies}}
    assert limit(behavior, "up", middle=10).value == expected


def test_scale_down_percent_compounds_per_minute() -> None:
    behavior = {"scaleDown": {"policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    assert limit(behavior, "down", middle=10).value == "100%"


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"queueName": "q", "queueLength": "5", "mode": "QueueLength"}, "queueLength with mode"),
        ({"queueName": "q", "mode": "Bogus", "value": "1"}, "is not one of KEDA's"),
        ({"queueName": "q", "mode": "QueueLength"}, "without value"),
        ({"queueName": "q", "value": "0", "mode": "QueueLength"}, "not a number above 0"),
        ({"mode": "QueueLength", "value": "5"}, "has no queueName"),
    ],
    ids=["legacy-and-mode", "unknown-mode", "no-value", "zero-value", "no-queue"],
)
def test_a_trigger_keda_would_refuse_stops_only_its_object(
    metadata: dict[str, str], problem: str
) -> None:
    bad = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "bad", "namespace": "x"},
        "spec": {
            "scaleTargetRef": {"name": "w"},
            "triggers": [{"type": "rabbitmq", "metadata": metadata}],
        },
    }
    found = conversions(FIXTURE.read_text() + "---\n" + yaml.safe_dump(bad))
    assert problem in (found["x/bad"].error or "")
    assert found["shop/orders"].error is None


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qscaler", "import", "keda", *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_bad_yaml_is_one_line_and_exit_2() -> None:
    done = run_cli("-", stdin="kind: ScaledObject\n  spec: [unclosed\n")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("qscaler: stdin: not valid YAML at line 2")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("- just\n- a list\n", "document 1 is not a Kubernetes object"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no KEDA ScaledObject"),
    ],
    ids=["not-an-object", "no-scaledobject"],
)
def test_input_without_scaled_objects_is_exit_2(stdin: str, message: str) -> None:
    done = run_cli("-", stdin=stdin)
    assert (done.returncode, done.stdout) == (2, "")
    assert message in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_missing_file_is_exit_2(tmp_path: Path) -> None:
    done = run_cli(str(tmp_path / "absent.yaml"))
    assert done.returncode == 2
    assert "absent.yaml: cannot read (No such file or directory)" in done.stderr


def test_stdin_and_kustomize_output() -> None:
    done = run_cli("-", "--output", "kustomize", stdin=FIXTURE.read_text())
    assert done.returncode == 1  # two objects cannot be converted; the rest is printed
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout)]
    assert kinds == ["Deployment", "StatefulSet", "Deployment"]


def test_the_most_read_host_is_the_default_broker_and_the_others_get_a_brokers_file(
    tmp_path: Path,
) -> None:
    found = conversions()
    assert "qscaler.io/broker" not in found["shop/orders"].annotations
    assert "usernameFile/passwordFile of broker rabbit-a" in "\n".join(found["shop/events"].lost)
    objects = load_objects(FIXTURE.read_text(), "test")
    converted = [convert(so, objects) for so in objects.scaled_objects]
    names = assign_brokers(converted)
    assert names == {
        "http://rabbit-a.shop.svc:15672": "rabbit-a",
        "env RABBITMQ_URL of the target's container": "rabbitmq-url",
    }
    path = tmp_path / "brokers.yaml"
    path.write_text(brokers_file(names, converted))
    loaded = load_brokers(load_settings(brokers_file=path))
    assert loaded["rabbit-a"].management_url == "http://rabbit-a.shop.svc:15672"
    assert sorted(loaded) == ["default", "rabbit-a", "rabbitmq-url"]


def scaled_object(spec: dict[str, Any]) -> str:
    """The fixture plus one ScaledObject x/bad with `spec` over a valid rabbitmq trigger."""
    trigger = {"type": "rabbitmq", "metadata": {"queueName": "q", "value": "5"}}
    bad = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "bad", "namespace": "x"},
        "spec": {"scaleTargetRef": {"name": "w"}, "triggers": [trigger], **spec},
    }
    return FIXTURE.read_text() + "---\n" + yaml.safe_dump(bad)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"minReplicaCount": "abc"}, "spec.minReplicaCount 'abc' is not a whole number"),
        ({"maxReplicaCount": [3]}, "spec.maxReplicaCount [3] is not a whole number"),
        ({"maxReplicaCount": 2.5}, "spec.maxReplicaCount 2.5 is not a whole number"),
        ({"minReplicaCount": 5, "maxReplicaCount": 2}, "minReplicaCount 5 is above"),
        ({"idleReplicaCount": "none"}, "spec.idleReplicaCount 'none' is not"),
        ({"cooldownPeriod": "soon"}, "spec.cooldownPeriod 'soon' is not a number"),
        ({"fallback": {"replicas": "many"}}, "spec.fallback.replicas 'many' is not"),
        (
            {"advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": {
                "policies": [{"type": "Pods", "value": "x", "periodSeconds": 15}]}}}}},
            "a policy's value 'x' is not a number",
        ),
        (
            {"advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
                "policies": True}}}}},
            "behavior.scaleDown.policies is a bool, not a list",
        ),
        (
            {"triggers": [{"type": "rabbitmq", "metadata": {
                "queueName": "orders-[", "useRegex": "true", "value": "5"}}]},
            "trigger 1 (rabbitmq) queueName 'orders-[' is not a valid regular expression",
        ),
        ({"triggers": {"type": "rabbitmq"}}, "spec.triggers is a dict, not a list"),
        ({"triggers": "rabbitmq"}, "spec.triggers is a str, not a list"),
    ],
    ids=[
        "min-word", "max-list", "max-fraction", "min-above-max", "idle-word", "cooldown-word",
        "fallback-word", "policy-value", "policies-bool", "bad-regex", "triggers-mapping", "triggers-string",
    ],
)  # fmt: skip
def test_a_field_keda_would_refuse_stops_only_its_object(
    spec: dict[str, Any], problem: str
) -> None:
    found = conversions(scaled_object(spec))
    assert problem in (found["x/bad"].error or "")
    assert found["shop/orders"].error is None


def test_a_bad_count_is_one_line_on_stderr_and_exit_1() -> None:
    done = run_cli("-", stdin=scaled_object({"minReplicaCount": "abc"}))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "qscaler: ScaledObject x/bad not converted: spec.minReplicaCount 'abc'" in done.stderr


def test_an_input_over_the_limit_is_one_line_and_exit_2(tmp_path: Path) -> None:
    big = tmp_path / "everything.yaml"
    with big.open("w") as out:  # 17 MiB of ConfigMaps: what `kubectl get all` might pipe in
        for number in range(17 * 1024):
            out.write(
                f"kind: ConfigMap\nmetadata: {{name: c{number}}}\ndata: {{k: {'x' * 990}}}\n---\n"
            )
    done = run_cli(str(big))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"qscaler: {big}: larger than 16 MiB; import the KEDA objects alone "
        "(kubectl get scaledobject,triggerauthentication -o yaml), or one namespace at a time\n"
    )


def test_the_migration_doc_says_what_no_behavior_becomes() -> None:
    mail = conversions()["notify/mail"]  # a ScaledObject without advanced.behavior
    assert "scale-up-limit" not in str(mail.annotations)
    assert "scale-down-limit" not in str(mail.annotations)  # qscaler's default: unlimited
    doc = FIXTURE.parents[2].parent / "docs" / "migrating-from-keda.md"
    row = next(line for line in doc.read_text().splitlines() if line.startswith("| no `behavior`"))
    assert "scale-up and scale-down unlimited" in row


@pytest.mark.parametrize(
    "host", ["http://[::1", "amqp://user:s3cr3t@rabbit:99999/v"], ids=["ipv6", "port"]
)
def test_a_host_that_is_not_a_url_stops_only_its_object_and_is_not_printed(host: str) -> None:
    trigger = {"type": "rabbitmq", "metadata": {"queueName": "q", "value": "5", "host": host}}
    found = conversions(scaled_object({"triggers": [trigger]}))
    assert found["x/bad"].error == "trigger 1 (rabbitmq) host is not a URL"
    assert found["shop/orders"].error is None


def test_an_authentication_section_that_is_not_a_list_stops_only_its_object() -> None:
    trigger = {
        "type": "rabbitmq",
        "metadata": {"queueName": "q", "value": "5"},
        "authenticationRef": {"name": "odd"},
    }
    auth = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": "odd", "namespace": "x"},
        "spec": {"secretTargetRef": 5},
    }
    found = conversions(scaled_object({"triggers": [trigger]}) + "---\n" + yaml.safe_dump(auth))
    assert found["x/bad"].error == (
        "TriggerAuthentication odd: spec.secretTargetRef is a int, not a list"
    )
    assert found["shop/orders"].error is None


def test_a_message_rate_activation_value_is_carried_as_the_doc_says() -> None:
    trigger = {
        "type": "rabbitmq",
        "metadata": {"queueName": "q", "mode": "MessageRate", "value": "5", "activationValue": "7"},
    }
    found = conversions(scaled_object({"triggers": [trigger]}))["x/bad"]
    assert found.annotations["qscaler.io/activation-messages"] == "7"
    doc = FIXTURE.parents[2].parent / "docs" / "migrating-from-keda.md"
    row = next(line for line in doc.read_text().splitlines() if line.startswith("| `activationV"))
    assert "A MessageRate trigger's value is carried as a message count" in row
