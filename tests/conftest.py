pytest_plugins = [
    "tests.harness.rabbitmq_fixtures",
    "tests.harness.k8s_fixtures",
    "tests.harness.docker_fixtures",
    "tests.harness.parallel",
]
