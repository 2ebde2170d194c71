//! Running the husk binary against a private `--root`, and cleaning up every container a test made.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::bundle::Bundle;
use crate::process::{run_captured, Output};
use crate::{env, leftovers, reaper, wait_until};

/// No husk command may take longer; a hung one is killed and the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a container gets to reach a state (e.g. stopped after a kill).
const STATE_TIMEOUT: Duration = Duration::from_secs(10);

/// A husk with its own `--root` temp dir. On drop: `delete --force` of every container id it
/// handed out, and removal of the cgroups named after them.
pub struct Husk {
    root: TempDir,
    ids: Mutex<Vec<String>>,
}

impl Default for Husk {
    fn default() -> Self {
        Self::new()
    }
}

impl Husk {
    /// Checks the environment (see the crate docs) and makes a fresh root.
    pub fn new() -> Husk {
        env::assert_environment();
        reaper::start();
        let root = tempfile::Builder::new()
            .prefix("husk-root-")
            .tempdir()
            .expect("create --root dir");
        Husk {
            root,
            ids: Mutex::new(Vec::new()),
        }
    }

    /// The `--root` directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A container id unique to this test run (`<name>-<pid>-<n>`), cleaned up on drop.
    pub fn new_id(&self, name: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(id.clone());
        id
    }

    /// An invocation of `husk --root <root> ...` to refine before running it.
    pub fn invoke(&self) -> Invocation<'_> {
        Invocation {
            husk: self,
            global: Vec::new(),
            args: Vec::new(),
            with_root: true,
            fds: Vec::new(),
        }
    }

    /// `husk --root <root> ARGS`.
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.invoke().args(args).output()
    }

    /// `husk run --bundle B ID` (foreground: returns when the container has ended).
    pub fn run(&self, id: &str, bundle: &Bundle) -> Output {
        self.invoke()
            .arg("run")
            .arg("--bundle")
            .arg(bundle.path())
            .arg(id)
            .output()
    }

    /// `husk create --bundle B [EXTRA...] ID`.
    pub fn create(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        self.invoke()
            .arg("create")
            .arg("--bundle")
            .arg(bundle.path())
            .args(extra)
            .arg(id)
            .output()
    }

    pub fn start(&self, id: &str) -> Output {
        self.cmd(&["start", id])
    }

    /// `husk kill ID SIGNAL`.
    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.cmd(&["kill", id, signal])
    }

    /// `husk state ID`, which must succeed and print JSON.
    pub fn state(&self, id: &str) -> Value {
        let out = self.cmd(&["state", id]);
        out.assert_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {}", out.describe()))
    }

    /// Polls `state` until the status is `status` (10 s at most) and returns that state.
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let mut last = Value::Null;
        let reached = wait_until(STATE_TIMEOUT, || {
            last = self.state(id);
            last["status"] == status
        });
        assert!(
            reached,
            "container {id} did not become {status}; last state: {last:#}"
        );
        last
    }

    /// Panics if anything of container `id` created from `bundle` is left: a `<root>/<id>` entry,
    /// the cgroup `/sys/fs/cgroup/<id>`, a mount naming the bundle in this namespace, a process
    /// whose root is the bundle's rootfs.
    pub fn assert_nothing_left(&self, id: &str, bundle: &Bundle) {
        leftovers::assert_nothing_left(self.root(), id, bundle.path());
    }
}

impl Drop for Husk {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|p| p.into_inner()));
        for id in &ids {
            let mut cmd = Command::new(env::husk_bin());
            cmd.arg("--root")
                .arg(self.root())
                .args(["delete", "--force", id]);
            // Not run_captured: it panics on timeout, and a panic in drop while unwinding aborts.
            if let Ok(pid) = reaper::spawn(&mut cmd) {
                if reaper::wait_exit(pid, COMMAND_TIMEOUT).is_none() {
                    reaper::kill_and_reap(pid);
                }
            }
            leftovers::remove_cgroup(id);
        }
    }
}

/// One husk command line: global flags, arguments, fds to hand over.
pub struct Invocation<'a> {
    husk: &'a Husk,
    global: Vec<OsString>,
    args: Vec<OsString>,
    with_root: bool,
    fds: Vec<(RawFd, RawFd)>,
}

impl Invocation<'_> {
    /// A global flag (placed before the subcommand), e.g. `--log`.
    pub fn global(mut self, flag: impl Into<OsString>) -> Self {
        self.global.push(flag.into());
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(OsString::from));
        self
    }

    /// Leaves out `--root` (containerd runs `features` with no global flag).
    pub fn without_root(mut self) -> Self {
        self.with_root = false;
        self
    }

    /// husk gets `file` open (without FD_CLOEXEC) as its fd `target`.
    pub fn pass_fd(mut self, file: &File, target: RawFd) -> Self {
        self.fds.push((file.as_raw_fd(), target));
        self
    }

    pub fn output(self) -> Output {
        let mut cmd = Command::new(env::husk_bin());
        if self.with_root {
            cmd.arg("--root").arg(self.husk.root());
        }
        cmd.args(&self.global).args(&self.args);
        if !self.fds.is_empty() {
            let fds = self.fds;
            // SAFETY: the closure runs in the forked child before exec and only calls dup2 and
            // fcntl, which are async-signal-safe; it allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    for &(source, target) in &fds {
                        // dup2 onto itself keeps FD_CLOEXEC (dup2(2)), so clear it explicitly.
                        let rc = if source == target {
                            libc::fcntl(target, libc::F_SETFD, 0)
                        } else {
                            libc::dup2(source, target)
                        };
                        if rc == -1 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        run_captured(&mut cmd, COMMAND_TIMEOUT)
    }
}
