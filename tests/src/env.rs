//! Where the husk binary is, and the check that the tests run where they may create containers.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

const HOW_TO_RUN: &str =
    "run the tests through `make test` (hack/test-host), which enters a private \
                          mount namespace with cgroup2 on /sys/fs/cgroup";

/// The husk binary under test: `$HUSK_BIN`, else `$CARGO_TARGET_DIR/debug/husk` (the target dir of
/// the cargo that runs the tests), else `<workspace>/target/debug/husk`. Panics when none exists.
pub fn husk_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("HUSK_BIN") {
            let bin = PathBuf::from(bin);
            assert!(bin.is_file(), "HUSK_BIN={} does not exist", bin.display());
            return bin;
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent");
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
            candidates.push(workspace.join(dir).join("debug/husk"));
        }
        candidates.push(workspace.join("target/debug/husk"));
        match candidates.iter().find(|c| c.is_file()) {
            Some(bin) => bin.clone(),
            None => panic!(
                "husk binary not found (looked at $HUSK_BIN, {}): build it first with `cargo build -p husk`",
                candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    })
}

/// Panics unless the process is root, in a mount namespace other than pid 1's (when that is
/// readable), with cgroup2 on /sys/fs/cgroup. Checked once per test binary.
pub fn assert_environment() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the tests must run as root: {HOW_TO_RUN}"
        );
        let own_ns = std::fs::metadata("/proc/self/ns/mnt")
            .expect("stat /proc/self/ns/mnt")
            .ino();
        // pid 1's namespace link may be unreadable (a protected init); the cgroup2 check below then
        // still tells a hybrid host's /sys/fs/cgroup (tmpfs) apart.
        if let Ok(init_ns) = std::fs::metadata("/proc/1/ns/mnt") {
            assert_ne!(
                own_ns,
                init_ns.ino(),
                "the tests run in the host's mount namespace: {HOW_TO_RUN}"
            );
        }
        let fs = statfs("/sys/fs/cgroup").expect("statfs /sys/fs/cgroup");
        assert!(
            fs.filesystem_type() == CGROUP2_SUPER_MAGIC,
            "/sys/fs/cgroup is not cgroup2: {HOW_TO_RUN}"
        );
    });
}
