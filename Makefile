# qscaler's two front doors:
#   make demo   run qscaler's real control loop on a simulated broker and cluster
#   make test   install everything and run the whole test suite
# Both work on a fresh machine (Debian 12, Python 3.11, Go 1.26, root for apt).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install deps rabbitmq-install test-packages k8s-build metrics-server-build promtool-build base-image helm-build compose-build check unit integration e2e bench scale-bench race clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/qscaler demo $(ARGS)

## everything the tests need that is not Python: RabbitMQ (Debian), the control plane and metrics-server (Go),
## Debian packages (incl. the container engine), the root filesystem of the local images,
## helm and Docker Compose (Go)
deps: rabbitmq-install test-packages k8s-build metrics-server-build promtool-build base-image helm-build compose-build

test-packages:
	tests/install-packages.sh

rabbitmq-install:
	tests/rabbitmq/install.sh

k8s-build:
	tests/k8s/build.sh

metrics-server-build:
	tests/k8s/build-metrics-server.sh

promtool-build:
	tools/promtool/build.sh

base-image:
	tests/docker/base-image.sh

helm-build:
	tools/helm/build.sh >/dev/null

compose-build:
	tools/compose/build.sh >/dev/null

check: install
	$(VENV)/bin/ruff check qscaler tests bench
	$(VENV)/bin/ruff format --check qscaler tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## the whole suite: static checks, unit, simulator, RabbitMQ integration, Kubernetes end-to-end;
## in TEST_WORKERS pytest-xdist workers, each with its own broker and control plane (docs/testing.md)
TEST_WORKERS ?= 2
test: deps check
	QSCALER_HYPOTHESIS_EXAMPLES=$${QSCALER_HYPOTHESIS_EXAMPLES:-10000} \
	  $(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=25

unit: install
	$(VENV)/bin/pytest tests/unit tests/sim

integration: install rabbitmq-install
	$(VENV)/bin/pytest -m rabbitmq

e2e: install deps
	$(VENV)/bin/pytest -m k8s

bench: install
	$(VENV)/bin/qscaler bench $${TRACES:-bench/traces} --policy bench/policy.yaml

## the scale benchmark (docs/performance.md): real broker and control plane; ~15 min at 20,000 queues
scale-bench: install deps
	$(PY) -m bench.scale.run $(ARGS)

## the live race against a real KEDA (docs/race.md): real time, about 35 min with the defaults
race: install rabbitmq-install test-packages k8s-build
	$(PY) -m bench.race.run $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
