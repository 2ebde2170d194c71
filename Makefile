# husk: the commands a person and CI use. Every target runs as root on Debian 12.
SHELL := /bin/bash
CARGO ?= cargo
DEBUG_HUSK := target/debug/husk
RELEASE_HUSK := target/release/husk
DEMO_BUNDLE := .cache/demo-bundle

.PHONY: all build release demo test test-host test-vm test-integration test-integration-vm lint clean-cache

all: build

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release -p husk

# Builds a busybox-static bundle and runs one container from it, in the foreground.
demo: release
	HUSK=$(CURDIR)/$(RELEASE_HUSK) hack/mkbundle $(DEMO_BUNDLE) -- /bin/sh -c \
	  'echo "hello from a husk container"; echo "hostname: $$(hostname)"; id; echo "pid 1 is: $$(cat /proc/1/comm)"; ls /'
	hack/test-host $(RELEASE_HUSK) --root /run/husk-demo run -b $(DEMO_BUNDLE) husk-demo-$$$$

# The whole test suite: lint, the host tier (unit + integration tests with real containers), the VM
# tier (tests that need cgroup v2 controllers, in one boot of hack/vm), then podman and containerd
# driving husk, on the host (lifecycle) and in the VM (with resource limits).
test: lint test-host test-vm test-integration test-integration-vm

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-host: build
	hack/tier host -- hack/test-host $(CARGO) test --workspace --no-fail-fast

test-vm: build
	hack/tier vm -- hack/vm-tier

test-integration: build
	hack/tier integration -- env RUNTIMES=$(DEBUG_HUSK) integration/run-all

test-integration-vm: build
	hack/tier integration-vm -- env RUNTIMES=$(DEBUG_HUSK) integration/run-all --vm

clean-cache:
	rm -rf .cache
