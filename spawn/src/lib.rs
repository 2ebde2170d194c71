//! Turns a validated OCI spec into a running process.
//!
//! The parent calls [`spawn`], which `clone3`s the container init straight from the calling process
//! (no re-exec of the husk binary), with every new namespace in the first clone. The child then runs
//! the fixed pre-exec pipeline in `child.rs` (one small function per step, in the documented order),
//! talking to the parent over a typed channel (`channel.rs`). [`exec`] starts a further process in
//! a running container the same way (`join.rs`: the init's namespaces and cgroup, then the tail of
//! the runbook). Every failure comes back as one [`SpawnError`] naming the phase (clone, setup or
//! exec), the step, the path and the errno.

mod capabilities;
mod channel;
mod child;
mod clone;
mod console;
mod dmz;
pub mod error;
mod exec;
mod home;
pub mod hooks;
mod join;
mod namespaces;
mod parent;
mod procfs;
mod rlimits;
pub mod rootfs;
mod user;

pub use error::{Phase, SpawnError};
pub use join::{exec, ExecRequest};

use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::Spec;

/// Where the container's pty master goes when `process.terminal` is true.
#[derive(Debug)]
pub enum Console {
    /// No terminal: the init inherits the caller's fds 0, 1 and 2.
    Inherit,
    /// A connected `--console-socket`: the master is sent over it with SCM_RIGHTS (runc's protocol).
    Socket(OwnedFd),
    /// `run`/`exec -t` without a console socket: the master is handed back to the parent, which
    /// proxies it ([`Spawned::pty_master`]).
    ToParent,
}

/// How the init waits between `create` and `start`.
#[derive(Debug)]
pub enum StartGate {
    /// `create`: after setup the child blocks in `accept()` on this listening unix socket (bound at
    /// `<state dir>/start.sock`); `start` connects to release it and reads the exec result.
    Socket(OwnedFd),
    /// `run`: exec as soon as setup is done; the parent learns the exec result on the sync channel.
    Immediate,
}

/// Callback the parent runs while the child waits after its mounts are in place and before
/// `pivot_root` (prestart and createRuntime hooks). Receives the child's host pid.
pub type RuntimeHooks<'a> = &'a mut dyn FnMut(i32) -> Result<(), String>;

/// The seccomp step: run in the child right before `execve` with noNewPrivileges, else before the
/// user switch (seccomp(2) needs CAP_SYS_ADMIN without no_new_privs). Returns the
/// SECCOMP_FILTER_FLAG_NEW_LISTENER fd when the profile uses SCMP_ACT_NOTIFY; the child sends it to
/// the parent, which hands it to [`SpawnRequest::on_seccomp_listener`].
pub type SeccompStep<'a> = &'a dyn Fn() -> Result<Option<OwnedFd>, String>;

/// The state JSON (status "creating") for the init's host pid, given on stdin to the hooks the
/// child runs itself (createContainer, startContainer). Called in the child, only when it has such
/// hooks: the parent then sends it its host pid.
pub type StateJson<'a> = &'a dyn Fn(i32) -> String;

/// Work of the runtime's that must be done before anything but husk runs in the container, and
/// that the parent does while the child sets up, so the two overlap: the runtime attaches the
/// cgroup device filter here (the BPF verifier makes it the slowest step of the parent's share).
/// The child waits for it at the first step that needs it: createContainer hooks, the pty, a
/// seccomp filter installed before the user switch, at the latest Ready (so never before anything
/// but husk runs in the container or the init opens a device); an error names `step`.
pub struct ParentWork<'a> {
    pub step: &'static str,
    pub run: &'a mut dyn FnMut() -> Result<(), String>,
}

/// Receives the seccomp notify listener fd (see [`SeccompStep`]).
pub type OnSeccompListener<'a> = &'a mut dyn FnMut(OwnedFd) -> Result<(), String>;

/// Everything the child needs. Built by the runtime from one parse of config.json.
pub struct SpawnRequest<'a> {
    pub spec: &'a Spec,
    /// Absolute path of the rootfs on the host.
    pub rootfs: &'a Path,
    /// The bundle directory (cwd for hooks, state JSON).
    pub bundle: &'a Path,
    /// O_PATH|O_DIRECTORY fd of the container's cgroup: the child is born in it (CLONE_INTO_CGROUP).
    pub cgroup_fd: Option<RawFd>,
    /// Host path of that cgroup: the bind source for a `cgroup` mount without a cgroup namespace.
    /// A path, not the fd: a bind source must be a mount of the child's own mount namespace
    /// (do_loopback's check_mnt), and the fd points into the parent's.
    pub cgroup_dir: Option<&'a Path>,
    pub console: Console,
    pub start_gate: StartGate,
    /// `--preserve-fds N`: fds 3..3+N stay open in the container (plus `$LISTEN_FDS`).
    pub preserve_fds: u32,
    /// `--no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// `--no-new-keyring`: keep the caller's session keyring.
    pub no_new_keyring: bool,
    pub state_json: StateJson<'a>,
    pub runtime_hooks: Option<RuntimeHooks<'a>>,
    pub parent_work: Option<ParentWork<'a>>,
    pub seccomp: Option<SeccompStep<'a>>,
    pub on_seccomp_listener: Option<OnSeccompListener<'a>>,
}

/// A container init that finished setup.
#[derive(Debug)]
pub struct Spawned {
    /// Host pid of the init.
    pub pid: i32,
    /// pidfd of the init (CLONE_PIDFD).
    pub pidfd: OwnedFd,
    /// With [`Console::ToParent`]: the pty master to proxy.
    pub pty_master: Option<OwnedFd>,
    /// With [`StartGate::Immediate`]: the sync channel, to learn the exec result via
    /// [`Spawned::wait_exec`].
    channel: Option<channel::ParentChannel>,
}

impl Spawned {
    /// With [`StartGate::Immediate`]: blocks until the init has exec'd (Ok) or failed (its error).
    pub fn wait_exec(&mut self) -> Result<(), SpawnError> {
        match self.channel.take() {
            Some(ch) => ch.wait_exec(),
            None => Ok(()),
        }
    }
}

/// Creates the container init: clone3 with the namespace plan, user-namespace mappings, the
/// pre-exec pipeline, and returns once the init is set up (and, for [`StartGate::Socket`], blocked
/// waiting for `start`). On error the child is gone and reaped.
pub fn spawn(req: SpawnRequest<'_>) -> Result<Spawned, SpawnError> {
    parent::spawn(req)
}

/// `start`: connects to `<state dir>/start.sock`, releases the init and waits until it has exec'd
/// (Ok) or reports why it could not. With noNewPrivileges and an SCMP_ACT_NOTIFY profile the init
/// installs seccomp after the gate: its listener fd is returned, for the runtime to hand to the
/// agent at `listenerPath`.
pub fn release(start_socket: &Path) -> Result<Option<OwnedFd>, SpawnError> {
    channel::release(start_socket)
}
