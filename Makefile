# The two commands a person needs: `make run` and `make test`.
# Everything below is idempotent: stamps and file dependencies make a second run fast.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
DATA_DIR ?= $(HOME)/.kube-py

NATIVE_SRC := $(wildcard src/_native/*.pyx src/_native/*.pxd src/_native/*.cpp) \
              $(wildcard rust/src/*.rs) rust/Cargo.toml rust/Cargo.lock rust/pyproject.toml $(wildcard proto/*/*/*/*/*.proto) $(wildcard proto/*/*/*/*.proto) $(wildcard proto/*/*.proto) setup.py

.PHONY: run test setup lint typecheck layers unit bench bench-check bench-api bench-controllers clean doctor bench-ratios loadtest loadtest-smoke

run: setup
	@# The node row's runtime keeps its images under the data dir: the test image goes there too.
	@if [ -f build/busybox-oci.tar ]; then \
	  $(VENV)/bin/kube image --root $(DATA_DIR)/agent/runtime import build/busybox-oci.tar; fi
	$(VENV)/bin/kube server --data-dir $(DATA_DIR)

test: setup lint typecheck layers unit

setup: .stamps/system .stamps/venv .stamps/native .stamps/busybox-image

# Debian packages the machine needs (only where we are root and apt exists).
.stamps/system: tools/system-packages.txt
	@mkdir -p .stamps
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=$$(for p in $$(grep -v '^#' tools/system-packages.txt); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  fi; \
	else echo "not root or no apt-get: skipping Debian packages (kube doctor shows what is missing)"; fi
	@touch $@

# The virtualenv with build tools, runtime and test dependencies (and locust, for the load test).
.stamps/venv: pyproject.toml
	@mkdir -p .stamps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install "pip>=24" "setuptools>=68" "wheel>=0.41" "cython>=3.0" "pybind11>=2.12" "maturin>=1.5" "grpcio-tools>=1.66"
	$(PIP) install --no-build-isolation -e ".[test,load]"
	@touch $@ .stamps/native

# Native builds: Cython/pybind11 extensions, the Rust crate (maturin) and protobuf modules, in place.
.stamps/native: $(NATIVE_SRC) .stamps/venv
	$(PY) setup.py -q build_ext --inplace
	@touch $@

# The drop-in scheduler plugins of examples/ (Python, Cython, Rust), installed editable into the
# venv so their entry points are found; cargo stays offline (crates from the local cache).
EXAMPLES := python-plugin cython-plugin rust-plugin
EXAMPLE_PACKAGES := examples/python-plugin/kube_example_gpu examples/cython-plugin/kube_example_pack \
                    examples/rust-plugin/python/kube_example_rust
EXAMPLES_SRC := $(wildcard examples/*/pyproject.toml examples/*/setup.py examples/*/Cargo.toml \
                examples/*/Cargo.lock examples/*/src/*.rs examples/*/*/*.py examples/*/*/*.pyx \
                examples/*/python/*/*.py)
.stamps/examples: $(EXAMPLES_SRC) .stamps/venv
	@for e in $(EXAMPLES); do \
	  CARGO_NET_OFFLINE=true $(PIP) install --no-build-isolation --no-deps -e examples/$$e || exit 1; \
	done
	@touch $@

# The test image localhost/busybox:latest, built from Debian's busybox-static and imported into
# the built-in runtime's default store (kube image import; the tests build their own copy).
.stamps/busybox-image: tools/build_busybox_image.py .stamps/native .stamps/system
	@if [ -x /bin/busybox ]; then \
	  $(PY) tools/build_busybox_image.py -o build/busybox-oci.tar && \
	  $(VENV)/bin/kube image import build/busybox-oci.tar; \
	else echo "no /bin/busybox (Debian busybox-static): skipping the busybox test image"; fi
	@touch $@

lint: setup
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

typecheck: setup
	$(VENV)/bin/mypy
	MYPYPATH=src $(VENV)/bin/mypy $(EXAMPLE_PACKAGES)

layers: setup
	$(VENV)/bin/lint-imports

unit: setup .stamps/examples
	KUBE_REQUIRE_NATIVE=1 $(VENV)/bin/pytest $(PYTEST_ARGS)

doctor: setup
	$(VENV)/bin/kube doctor

bench: setup
	@mkdir -p bench/results
	$(VENV)/bin/pytest -q bench --benchmark-only --benchmark-json=bench/results/latest.json $(PYTEST_ARGS)

# The performance gate (bench/check.py): ratio floors and median regressions against bench/baselines/.
bench-check: bench
	$(PY) -m bench.check --results bench/results/latest.json $(BENCH_CHECK_ARGS)

# Ratio checks only (native against reference in one run: independent of the machine's speed),
# few rounds so it fits in CI (.ci/run); about 30 s.
BENCH_RATIO_FILES := bench/test_native_kernels.py bench/test_protobuf_codec.py \
                     bench/test_scheduler_kernels.py bench/test_watchcache.py
bench-ratios: setup
	@mkdir -p bench/results
	KUBE_REQUIRE_NATIVE=1 $(VENV)/bin/pytest -q $(BENCH_RATIO_FILES) --benchmark-only \
	  --benchmark-min-rounds=3 --benchmark-max-time=0.2 --benchmark-json=bench/results/ratios.json
	$(PY) -m bench.check --ratios-only --results bench/results/ratios.json

# Locust (bench/locustfile.py) headless against a running cluster: `make run` in another shell, or
# KUBECONFIG=... for another cluster. LOADTEST_ARGS replaces the defaults (200 users, 60 s).
LOADTEST_ARGS ?= --users 200 --spawn-rate 50 --run-time 60s
LOADTEST_KUBECONFIG ?= $(or $(KUBECONFIG),$(DATA_DIR)/admin.kubeconfig)
loadtest: setup
	$(VENV)/bin/locust -f bench/locustfile.py --headless --only-summary \
	  --kubeconfig $(LOADTEST_KUBECONFIG) $(LOADTEST_ARGS)

# The locust smoke test alone (a few users for a few seconds against a fresh `kube server`).
loadtest-smoke: setup
	KUBE_REQUIRE_NATIVE=1 $(VENV)/bin/pytest -q tests/bench/test_locustfile.py

# The API server against the issue's targets (BENCH_API_ARGS=--quick for a short run).
bench-api: setup
	$(PY) -m bench.api_report $(BENCH_API_ARGS)

# A 10,000-replica Deployment's pods, controllers unthrottled (BENCH_CONTROLLERS_ARGS to change).
BENCH_CONTROLLERS_ARGS ?= --replicas 10000 --unthrottled
bench-controllers: setup
	$(PY) -m bench.controller_report $(BENCH_CONTROLLERS_ARGS)

clean:
	rm -rf .stamps build src/kube/*.so src/kube/*/*.so src/kube/_generated rust/target
