//! config.json load + validation (`Bundle::load`: one read, one parse, every check) for the configs
//! podman and containerd's CRI generate. Run: cargo bench -p husk-oci

use std::path::Path;
use std::time::{Duration, Instant};

/// Mean time per call of the fastest batch: the machine is shared, the fastest batch is the one
/// least disturbed by other work.
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

/// A bundle holding the fixture's config.json with root.path pointing at an empty rootfs.
fn bundle_from(fixture: &str) -> tempfile::TempDir {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/engine-configs")
        .join(fixture);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    config["root"]["path"] = "rootfs".into();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rootfs")).expect("rootfs");
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config.json");
    dir
}

fn main() {
    println!("{:<48} {:>10} {:>8}", "config.json", "load", "bytes");
    for fixture in [
        "podman-runc-run-d.config.json",
        "ctr-run-d.config.json",
        "cri-host-container.config.json",
    ] {
        let dir = bundle_from(fixture);
        let size = std::fs::metadata(dir.path().join("config.json"))
            .unwrap()
            .len();
        let mean = time(20, 200, || {
            std::hint::black_box(husk_oci::Bundle::load(dir.path()).expect("load"));
        });
        println!(
            "{fixture:<48} {:>7.1} µs {size:>8}",
            mean.as_secs_f64() * 1e6
        );
    }
}
