//! Busybox bundles in temp dirs: a rootfs like hack/mkbundle's and a config.json equal to runc 1.1's
//! `runc spec` (with terminal false), editable as JSON before a test runs it.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::leftovers;
use crate::process::run_captured;

/// `runc spec` of runc 1.1.5 with `process.terminal` false.
const RUNC_DEFAULT_SPEC: &str = include_str!("runc-default-spec.json");

const BUSYBOX: &str = "/bin/busybox";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      test:x:1000:1000:test:/tmp:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\ntest:x:1000:\nnobody:x:65534:\n";

/// A bundle directory (removed on drop) and its config, written to `config.json` on every edit.
pub struct Bundle {
    dir: TempDir,
    pub config: Value,
}

impl Bundle {
    /// A busybox rootfs and the default spec running `args`.
    pub fn busybox(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("husk-bundle-")
            .tempdir()
            .expect("create bundle dir");
        // World-searchable: in a user namespace the container's root is an unprivileged host uid.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod bundle dir");
        build_rootfs(&dir.path().join("rootfs"));
        let mut config: Value =
            serde_json::from_str(RUNC_DEFAULT_SPEC).expect("default spec is JSON");
        config["process"]["args"] = json!(args);
        let bundle = Bundle { dir, config };
        bundle.save();
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Changes the config and rewrites config.json.
    pub fn edit(&mut self, change: impl FnOnce(&mut Value)) -> &mut Self {
        change(&mut self.config);
        self.save();
        self
    }

    /// Appends `mount` to the config's mounts.
    pub fn add_mount(&mut self, mount: Value) -> &mut Self {
        self.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .expect("mounts is an array")
                .push(mount)
        })
    }

    /// Bind-mounts the host directory `source` read-write at `destination`.
    pub fn bind(&mut self, source: &Path, destination: &str) -> &mut Self {
        self.add_mount(json!({
            "destination": destination,
            "type": "bind",
            "source": source,
            "options": ["rbind", "rw"],
        }))
    }

    fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialize config");
        fs::write(self.config_path(), text).expect("write config.json");
    }
}

impl Drop for Bundle {
    /// Nothing of the bundle may outlive the test: processes rooted in it are killed, mounts under
    /// it in this namespace are detached before the directory is removed (never recursing into a
    /// bind-mounted host directory).
    fn drop(&mut self) {
        leftovers::kill_processes_rooted_at(&self.rootfs());
        leftovers::detach_mounts_under(self.path());
    }
}

/// /bin/busybox, a /bin symlink per applet, passwd and group, empty proc sys dev tmp root.
fn build_rootfs(rootfs: &Path) {
    for dir in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        fs::create_dir_all(rootfs.join(dir)).expect("create rootfs dir");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .expect("chmod /tmp");
    // A copy, not a hard link: a test may chown or chmod its rootfs.
    fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
        .expect("copy /bin/busybox (install busybox-static)");
    for applet in applets() {
        symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink applet");
    }
    fs::write(rootfs.join("etc/passwd"), PASSWD).expect("write /etc/passwd");
    fs::write(rootfs.join("etc/group"), GROUP).expect("write /etc/group");
}

/// `busybox --list`, without busybox itself; run once per test binary.
fn applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = run_captured(Command::new(BUSYBOX).arg("--list"), Duration::from_secs(10));
        out.assert_ok();
        let applets: Vec<String> = out
            .stdout
            .lines()
            .filter(|a| !a.is_empty() && *a != "busybox")
            .map(String::from)
            .collect();
        assert!(
            applets.iter().any(|a| a == "sh"),
            "busybox --list has no sh: {}",
            out.describe()
        );
        applets
    })
}
