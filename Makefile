# husk: the commands a person and CI use. Every target runs as root on Debian 12.
SHELL := /bin/bash
CARGO ?= cargo
DEBUG_HUSK := target/debug/husk
# The release binary: static musl (.cargo/config.toml says why; `rustup target add` it first).
RELEASE_TARGET := x86_64-unknown-linux-musl
RELEASE_HUSK := target/$(RELEASE_TARGET)/release/husk
DEMO_BUNDLE := .cache/demo-bundle

.PHONY: all build release demo test test-host test-release test-vm test-integration test-integration-vm lint clean-cache

all: build

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release -p husk --target $(RELEASE_TARGET)

# Builds a busybox-static bundle and runs one container from it, in the foreground.
demo: release
	HUSK=$(CURDIR)/$(RELEASE_HUSK) hack/mkbundle $(DEMO_BUNDLE) -- /bin/sh -c \
	  'echo "hello from a husk container"; echo "hostname: $$(hostname)"; id; echo "pid 1 is: $$(cat /proc/1/comm)"; ls /'
	hack/test-host $(RELEASE_HUSK) --root /run/husk-demo run -b $(DEMO_BUNDLE) husk-demo-$$$$

# The whole test suite: lint, the host tier (unit + integration tests with real containers), the VM
# tier (tests that need cgroup v2 controllers, in one boot of hack/vm), the container tests against
# the release binary, then podman and containerd driving husk, on the host (lifecycle) and in the VM
# (with resource limits).
test: lint test-host test-vm test-release test-integration test-integration-vm

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p husk --release --target $(RELEASE_TARGET) -- -D warnings
	hack/release/order-functions --check

test-host: build
	hack/tier host -- hack/test-host $(CARGO) test --workspace --no-fail-fast

# The container tests again against the shipped binary (static musl): libc differences show here.
test-release: release build
	hack/tier release -- hack/test-host env HUSK_BIN=$(CURDIR)/$(RELEASE_HUSK) $(CARGO) test -p husk-tests --no-fail-fast

test-vm: build
	hack/tier vm -- hack/vm-tier

test-integration: build
	hack/tier integration -- env RUNTIMES=$(DEBUG_HUSK) integration/run-all

test-integration-vm: build
	hack/tier integration-vm -- env RUNTIMES=$(DEBUG_HUSK) integration/run-all --vm

clean-cache:
	rm -rf .cache
