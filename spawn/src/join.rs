//! `exec`: a new process inside a running container, joining the namespaces and cgroup of its init.
//!
//! Where each namespace is joined, and why:
//! - pid: setns(2) of a pid namespace only changes where the caller's *children* are born, so the
//!   parent joins it (through the init's pidfd) right before clone3 and leaves it right after.
//!   The clone3 child is then born in the container's pid namespace, which saves the second fork
//!   a child-side setns would need.
//! - cgroup membership: clone3 `CLONE_INTO_CGROUP` with the container cgroup's (or the
//!   `--cgroup` sub-cgroup's) fd: the child never runs outside it and no cgroup.procs is written.
//! - every other namespace (user, mount, uts, ipc, net, cgroup, time): one setns(init_pidfd,
//!   flags) in the child, which the kernel applies atomically with the user namespace first
//!   (setns(2), Linux 5.8). The parent cannot join them: a mount namespace would change husk's own
//!   view of the filesystem, and time and user namespaces refuse multi-threaded callers. After
//!   setns(CLONE_NEWNS) the child stands at the root of the container's mount namespace, so the
//!   pty (/dev/ptmx), cwd and the `$PATH` lookup all resolve inside the container.
//!
//! The child then runs the tail of the init's runbook (console, rlimits, setsid, user,
//! capabilities, no_new_privs, seccomp) and execs. The parent returns once it has exec'd or
//! failed; a failed child is reaped, and the container is never touched.

use std::convert::Infallible;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sched::{self, CloneFlags};
use nix::sys::stat;
use oci_spec::runtime::{LinuxSeccomp, Process};

use crate::capabilities::CapabilityPlan;
use crate::channel::{self, Channel, WaitError};
use crate::child;
use crate::clone::{self, Forked};
use crate::error::{Phase, SpawnError};
use crate::{console, dmz, exec as executable, home, namespaces, parent, procfs, rlimits, user};
use crate::{Console, OnSeccompListener, SeccompStep, Spawned};

/// A process to start in a running container.
pub struct ExecRequest<'a> {
    /// args, env, cwd, user, capabilities, rlimits, terminal, consoleSize, noNewPrivileges,
    /// oomScoreAdj. Taken as is: the runtime fills in the container's defaults.
    pub process: &'a Process,
    /// Host pid of the container init.
    pub init_pid: i32,
    /// pidfd of the init; the caller made sure (start time) that it is the container's init.
    pub init_pidfd: BorrowedFd<'a>,
    /// O_PATH|O_DIRECTORY fd of the cgroup the process is born in.
    pub cgroup_fd: Option<RawFd>,
    pub console: Console,
    /// `--preserve-fds N`: fds 3..3+N stay open in the process (plus `$LISTEN_FDS`).
    pub preserve_fds: u32,
    /// The container's seccomp step, run as for the init.
    pub seccomp: Option<SeccompStep<'a>>,
    /// The profile behind it: whether the exec goes through husk-dmz depends on it.
    pub seccomp_profile: Option<&'a LinuxSeccomp>,
    pub on_seccomp_listener: Option<OnSeccompListener<'a>>,
}

/// What the parent works out before clone3, for the child.
struct JoinPlan {
    /// The namespaces the child joins through the init's pidfd.
    namespaces: CloneFlags,
    capabilities: Option<CapabilityPlan>,
    first_unpreserved_fd: u32,
}

/// Starts `req.process` in the container of `req.init_pidfd` and returns once it has exec'd
/// ([`Spawned::wait_exec`] has nothing left to wait for), or its error once it is reaped.
pub fn exec(mut req: ExecRequest<'_>) -> Result<Spawned, SpawnError> {
    let plan = JoinPlan {
        namespaces: namespaces_to_join(req.init_pid)?,
        capabilities: req
            .process
            .capabilities()
            .as_ref()
            .map(CapabilityPlan::from_spec),
        first_unpreserved_fd: 3 + req.preserve_fds + parent::listen_fds(),
    };
    let (parent_end, child_end) = channel::pair()?;
    let runtime_pid_namespace = namespaces::enter_pid_namespace_of(req.init_pidfd)?;
    let (pid, pidfd) = match clone::clone3(0, req.cgroup_fd) {
        Ok(Forked::Child) => {
            drop(parent_end);
            drop(runtime_pid_namespace);
            run_child(req, &plan, child_end)
        }
        Ok(Forked::Parent { pid, pidfd }) => (pid, pidfd),
        Err(err) => {
            runtime_pid_namespace.restore()?;
            return Err(err);
        }
    };
    drop(child_end);
    // The console socket belongs to the child now: no copy stays here.
    let console = std::mem::replace(&mut req.console, Console::Inherit);
    let pty_to_parent =
        matches!(console, Console::ToParent) && req.process.terminal().unwrap_or(false);
    drop(console);
    let driven = runtime_pid_namespace
        .restore()
        .map_err(WaitError::Local)
        .and_then(|()| drive(&mut req, &parent_end, pty_to_parent));
    match driven {
        Ok(pty_master) => Ok(Spawned {
            pid,
            pidfd,
            pty_master,
            channel: None,
        }),
        Err(failure) => Err(parent::abort(&pidfd, failure)),
    }
}

/// Every namespace of the init but pid (joined by the parent). The user and time namespaces only
/// when they differ from husk's: setns(2) refuses to re-enter one's own user namespace (EINVAL),
/// and a kernel without time namespaces has no ns/time file (and refuses the flag).
fn namespaces_to_join(init_pid: i32) -> Result<CloneFlags, SpawnError> {
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWCGROUP;
    let ns_id = |path: &str| match stat::stat(path) {
        Ok(st) => Ok(Some((st.st_dev, st.st_ino))),
        Err(Errno::ENOENT) if path.ends_with("/time") => Ok(None),
        Err(e) => Err(SpawnError::new(Phase::Clone, format!("stat {path}"), e)),
    };
    for (name, flag) in [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("time", namespaces::time_flag()),
    ] {
        if ns_id(&format!("/proc/{init_pid}/ns/{name}"))?
            != ns_id(&format!("/proc/self/ns/{name}"))?
        {
            flags |= flag;
        }
    }
    Ok(flags)
}

/// The parent's half: the pty master, the seccomp listener, then the exec result.
fn drive(
    req: &mut ExecRequest<'_>,
    channel: &Channel,
    pty_to_parent: bool,
) -> Result<Option<OwnedFd>, WaitError> {
    let pty_master = if pty_to_parent {
        Some(channel.wait_for_pty_master()?)
    } else {
        None
    };
    if req.seccomp.is_some() && req.on_seccomp_listener.is_some() {
        parent::receive_seccomp_listener(req.on_seccomp_listener.as_mut(), channel)?;
    }
    // An error here was reported by the child, which exits by itself.
    channel::wait_exec_result(channel).map_err(WaitError::Reported)?;
    Ok(pty_master)
}

/// The child's entry point after clone3: it execs or exits 1 after reporting its error.
fn run_child(mut req: ExecRequest<'_>, plan: &JoinPlan, channel: Channel) -> ! {
    // A panic must never unwind into the caller's code running in this copy of its process.
    let _panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Err(err) = set_up_and_exec(&mut req, plan, &channel);
        child::exit_with(&channel, err)
    }));
    child::exit_now()
}

/// The exec'd process's runbook, in the init's order from the namespaces on.
fn set_up_and_exec(
    req: &mut ExecRequest<'_>,
    plan: &JoinPlan,
    channel: &Channel,
) -> Result<Infallible, SpawnError> {
    let process = req.process;
    // First: no container process may ptrace this one or open its /proc files while it holds
    // husk's fds (execve resets dumpable, prctl(2)).
    child::set_non_dumpable()?;
    sched::setns(req.init_pidfd, plan.namespaces)
        .map_err(|e| SpawnError::setup("setns to the namespaces of the container init", e))?;
    if plan.namespaces.contains(CloneFlags::CLONE_NEWUSER) {
        user::become_namespace_root()?;
    }
    child::join_session_keyring()?;
    let console = std::mem::replace(&mut req.console, Console::Inherit);
    let terminal_peer = child::set_up_console(console, process, channel, |size| {
        console::open(size).map(|(pty, _)| pty)
    })?;
    if let Some(score) = process.oom_score_adj() {
        procfs::write_oom_score_adj(score)?;
    }
    if let Some(limits) = process.rlimits() {
        rlimits::apply(limits)?;
    }
    nix::unistd::setsid().map_err(|e| SpawnError::setup("setsid", e))?;
    if let Some(peer) = terminal_peer {
        console::make_controlling_terminal(peer)?;
    }
    // cwd first: a relative $PATH entry is relative to it.
    child::change_dir(process)?;
    let env = home::with_home(
        process.env().as_deref().unwrap_or_default(),
        process.user().uid(),
    );
    let executable = executable::find(
        process.args().as_deref().unwrap_or_default(),
        &env,
        dmz::fits(req.seccomp_profile),
    )?;
    let listener_wanted = req.on_seccomp_listener.is_some();
    let seccomp_early = child::seccomp_before_user_switch(process);
    if seccomp_early {
        child::install_seccomp(req.seccomp, listener_wanted, channel)?;
    }
    // The bounding set needs CAP_SETPCAP, which a switch to a non-zero uid takes away.
    if let Some(caps) = &plan.capabilities {
        caps.drop_bounding()?;
    }
    user::switch_user(process.user())?;
    if let Some(caps) = &plan.capabilities {
        caps.apply()?;
    }
    if process.no_new_privileges() == Some(true) {
        child::set_no_new_privs()?;
    }
    executable::reset_signals()?;
    let route =
        executable::close_fds_on_exec(plan.first_unpreserved_fd, &executable, channel.as_fd())?;
    if !seccomp_early {
        child::install_seccomp(req.seccomp, listener_wanted, channel)?;
    }
    Err(executable::exec(&executable, route, channel.as_fd()))
}
