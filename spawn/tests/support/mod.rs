//! Shared test fixtures: a busybox-static rootfs in a tempdir, specs from JSON, and a container
//! guard that kills and reaps its init on drop (nothing outlives a test: the init is pid 1 of its
//! own pid namespace and the mounts live in its own mount namespace).

#![allow(dead_code)] // each test binary uses a different subset

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use husk_spawn::{spawn, Console, SpawnError, SpawnRequest, Spawned, StartGate};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use tempfile::TempDir;

const APPLETS: &[&str] = &[
    "sh", "true", "false", "sleep", "cat", "id", "echo", "hostname", "ls", "grep", "stty", "pwd",
    "test",
];

/// A bundle directory: `rootfs/` with busybox, `out/` bind-mounted at /out in the container.
pub struct Bundle {
    pub dir: TempDir,
    pub rootfs: PathBuf,
    pub out: PathBuf,
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        // `out` exists: a user-namespaced root cannot create mount points in a host-owned rootfs.
        for sub in ["bin", "proc", "dev", "sys", "tmp", "etc", "out"] {
            std::fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        // A hard link, not a copy: while a test writes a copy, a container cloned by a parallel
        // test inherits that write fd until its execve, and exec of the copy fails with ETXTBSY.
        std::fs::hard_link("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        // World-writable: a user-namespaced root (host uid 100000) writes here too.
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
        Bundle { dir, rootfs, out }
    }

    /// A runc-like spec running `args`, with `/out` bound in; `edit` adjusts the JSON.
    pub fn spec(&self, args: &[&str], edit: impl FnOnce(&mut Value)) -> Spec {
        let mut value = json!({
            "ociVersion": "1.2.0",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/bin"],
                "cwd": "/"
            },
            "root": {"path": "rootfs"},
            "hostname": "husk-test",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/out", "type": "bind", "source": self.out, "options": ["rbind", "rw"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]
            }
        });
        edit(&mut value);
        serde_json::from_value(value).unwrap()
    }

    pub fn request<'a>(&'a self, spec: &'a Spec) -> SpawnRequest<'a> {
        SpawnRequest {
            spec,
            rootfs: &self.rootfs,
            bundle: self.dir.path(),
            cgroup_fd: None,
            cgroup_dir: None,
            console: Console::Inherit,
            start_gate: StartGate::Immediate,
            preserve_fds: 0,
            no_pivot: false,
            no_new_keyring: false,
            state_json: &state_json,
            parent_work: None,
            runtime_hooks: None,
            seccomp: None,
            on_seccomp_listener: None,
        }
    }

    pub fn read_out(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name))
            .unwrap_or_else(|e| panic!("read out/{name}: {e}"))
    }
}

/// A spawned init that is killed and reaped when dropped (a failing test leaves nothing behind).
pub struct Container {
    pub spawned: Spawned,
    reaped: bool,
}

impl Container {
    pub fn spawn(req: SpawnRequest<'_>) -> Result<Container, SpawnError> {
        spawn(req).map(|spawned| Container {
            spawned,
            reaped: false,
        })
    }

    /// Waits for the init to exit; returns its exit code.
    pub fn wait(&mut self) -> i32 {
        let status = waitid(Id::PIDFd(self.spawned.pidfd.as_fd()), WaitPidFlag::WEXITED).unwrap();
        self.reaped = true;
        match status {
            WaitStatus::Exited(_, code) => code,
            other => panic!("init did not exit normally: {other:?}"),
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: pidfd_send_signal with our pidfd, no siginfo, no flags.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.spawned.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
        }
        let _ = waitid(Id::PIDFd(self.spawned.pidfd.as_fd()), WaitPidFlag::WEXITED);
    }
}

/// spawn + wait_exec + wait: the exit code of a `run`.
pub fn run(bundle: &Bundle, spec: &Spec) -> i32 {
    let mut container = Container::spawn(bundle.request(spec)).unwrap();
    container.spawned.wait_exec().unwrap();
    container.wait()
}

/// Runs `sh -c script` in a default container; returns the exit code.
pub fn run_sh(bundle: &Bundle, script: &str, edit: impl FnOnce(&mut Value)) -> i32 {
    let spec = bundle.spec(&["sh", "-c", script], edit);
    run(bundle, &spec)
}

/// The state JSON the test requests hand to the child's hooks.
pub fn state_json(pid: i32) -> String {
    format!(r#"{{"ociVersion":"1.2.0","id":"test","status":"creating","pid":{pid}}}"#)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
