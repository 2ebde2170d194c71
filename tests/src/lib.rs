//! Harness for the integration tests: busybox bundles, running the husk binary.
