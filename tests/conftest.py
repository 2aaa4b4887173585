from hypothesis import settings

pytest_plugins = [
    "tests.harness.rabbitmq_fixtures",
    "tests.harness.k8s_fixtures",
    "tests.harness.docker_fixtures",
    "tests.harness.parallel",
]

# Hypothesis fails an example that takes over 200 ms by default: a timed
# assert, which a loaded CI machine can trip without any defect. Speed is
# measured by the benchmarks (docs/performance.md), not by tests.
settings.register_profile("qscaler", deadline=None)
settings.load_profile("qscaler")
