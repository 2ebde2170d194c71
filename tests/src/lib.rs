//! Harness for the integration tests: busybox bundles, running the husk binary, checking that a
//! container left nothing behind.
//!
//! # Requirements
//! The tests start real containers, so they run as root, inside a **private mount namespace** whose
//! `/sys/fs/cgroup` is cgroup2 (the host's cgroup v1 hierarchies must never be touched). `make test`
//! (hack/test-host) sets that up; by hand:
//!
//! ```sh
//! cargo build -p husk
//! unshare -m --propagation private sh -c 'mount -t cgroup2 none /sys/fs/cgroup && cargo test -p husk-tests'
//! ```
//!
//! The husk binary is `$HUSK_BIN`, else `$CARGO_TARGET_DIR/debug/husk`, else
//! `<workspace>/target/debug/husk` ([`husk_bin`]).
//!
//! The test process makes itself a child subreaper, as containerd's shim and conmon are: container
//! inits are re-parented to it when `husk create` exits, and [`reaper`] reaps them (and records their
//! exit status), so no zombie outlives a test.

mod bundle;
mod env;
mod husk;
mod leftovers;
mod process;
pub mod pty;
pub mod reaper;
pub mod scm;

pub use bundle::Bundle;
pub use env::husk_bin;
pub use husk::{Husk, Invocation};
pub use process::Output;

use std::time::{Duration, Instant};

/// Polls `condition` every 20 ms until it holds; false when `timeout` passes first.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
