//! OCI resources to cgroup files: `Cgroup::update` of a typical container's limits (memory with
//! reservation and swap, cpu shares + quota, pids, unified) onto a directory of plain files laid out
//! like a cgroup, so the figure is conversion plus one open+write+close per file.
//! Run: cargo bench -p husk-cgroup

use std::path::Path;
use std::time::{Duration, Instant};

use husk_cgroup::{Cgroup, Hierarchy};
use oci_spec::runtime::LinuxResources;

/// Mean time per call of the fastest batch (the least disturbed on a shared machine).
fn time(batches: u32, iterations: u32, mut f: impl FnMut()) -> Duration {
    (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed() / iterations
        })
        .min()
        .expect("at least one batch")
}

const FILES: &[&str] = &[
    "cgroup.controllers",
    "cgroup.subtree_control",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.oom.group",
    "cpu.weight",
    "cpu.max",
    "pids.max",
];

fn main() {
    // On tmpfs: cgroupfs lives in memory, a disk filesystem would measure its journal instead.
    let root = tempfile::tempdir_in("/dev/shm").expect("tempdir in /dev/shm");
    for file in FILES {
        std::fs::create_dir_all(root.path().join("ctr")).unwrap();
        std::fs::write(root.path().join("ctr").join(file), "").unwrap();
    }
    std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
    let resources: LinuxResources = serde_json::from_value(serde_json::json!({
        "memory": {"limit": 268435456, "reservation": 134217728, "swap": 268435456},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 1024},
        "unified": {"memory.oom.group": "1"}
    }))
    .expect("resources");
    let cgroup = Cgroup::open(&Hierarchy::at(root.path()), Path::new("/ctr"));
    let mean = time(20, 500, || cgroup.update(&resources).expect("update"));
    println!(
        "update (memory+swap+low, cpu weight+max, pids, 1 unified key): {:.1} µs",
        mean.as_secs_f64() * 1e6
    );
}
