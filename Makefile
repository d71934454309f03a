# spire-steward: build, verify, test and demo. `make` alone lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-15s %s\n", $$1, $$2 }'

.PHONY: build
build: ## Build the spire-steward binary
	$(CARGO) build --locked

.PHONY: crds
crds: ## Regenerate crds/ (and the chart's copy) from the Rust types
	rm -f crds/*.yaml charts/spire-steward/files/crds/*.yaml
	$(CARGO) run --locked --quiet -- crds --out-dir crds
	mkdir -p charts/spire-steward/files/crds && cp crds/*.yaml charts/spire-steward/files/crds/

.PHONY: fmt
fmt: ## Format the Rust code
	$(CARGO) fmt --all

.PHONY: verify
verify: ## Check formatting, lints and that generated files are up to date
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	hack/verify-generated.sh

.PHONY: test-unit
test-unit: ## Run the unit tests (no servers needed)
	$(CARGO) test --locked --lib --bins

.PHONY: test
test: verify ## Run every test: verify, unit tests, and the integration tests on the testbed
	hack/test.sh

.PHONY: image
image: ## Build the OCI image archive target/image/spire-steward-<version>.oci.tar, offline (hack/image.sh)
	hack/image.sh

.PHONY: chart
chart: ## Package the Helm chart into target/chart/ (version and appVersion: the crate's)
	hack/verify-generated.sh
	"$$(hack/tools/build-helm.sh)" package charts/spire-steward --destination target/chart

.PHONY: bench
bench: ## Benchmark convergence on the testbed (BENCH_PODS=N, default 1000; BENCH_PODS_PER_NODE=M, default 100; not part of test)
	hack/testbed/up.sh
	BENCH_PODS=$${BENCH_PODS:-1000} $(CARGO) test --locked --release --test bench -- --ignored --nocapture

.PHONY: demo
demo: ## Bring up the testbed, install the CRDs, apply the examples and show them
	hack/demo.sh

.PHONY: demo-down
demo-down: ## Stop the demo's operator and the testbed
	-[ -f target/testbed/operator.pid ] && kill $$(cat target/testbed/operator.pid)
	hack/testbed/down.sh

.PHONY: testbed-build
testbed-build: ## Build the testbed binaries (kube-apiserver, kube-controller-manager, kubectl, etcd, spire-server, spire-agent)
	hack/testbed/build.sh

.PHONY: testbed-up
testbed-up: ## Start etcd, kube-apiserver, kube-controller-manager, spire-server and spire-agent on loopback (idempotent)
	hack/testbed/up.sh

.PHONY: testbed-down
testbed-down: ## Stop the testbed and remove its state (idempotent)
	hack/testbed/down.sh
