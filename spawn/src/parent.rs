//! The runtime side of [`crate::spawn`]: plan the namespaces, clone3, drive the child through the
//! sync protocol (id mappings, /dev built for it, the runtime's own work such as the device
//! filter, runtime hooks, pty master, Ready) and, on any failure, make sure the child is gone and
//! reaped before returning the error.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::wait::{self, Id, WaitPidFlag, WaitStatus};
use oci_spec::runtime::LinuxNamespaceType;

use crate::capabilities::CapabilityPlan;
use crate::channel::{self, Channel, Message, ParentChannel, WaitError};
use crate::child::{self, wants_runtime_hooks, InitPlan};
use crate::clone::{self, Forked};
use crate::error::{Phase, SpawnError};
use crate::namespaces::NamespacePlan;
use crate::rootfs::devfs;
use crate::user;
use crate::{Console, OnSeccompListener, SpawnRequest, Spawned, StartGate};

pub(crate) fn spawn(mut req: SpawnRequest<'_>) -> Result<Spawned, SpawnError> {
    let namespaces = NamespacePlan::from_spec(req.spec);
    // Only for an init that will mount in a new mount namespace of the runtime's user namespace.
    let dev = (namespaces.creates(LinuxNamespaceType::Mount) && !namespaces.has_user_namespace())
        .then(|| devfs::plan(req.spec))
        .flatten();
    let plan = InitPlan {
        dev,
        namespaces,
        capabilities: req
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().as_ref())
            .map(CapabilityPlan::from_spec),
        first_unpreserved_fd: 3 + req.preserve_fds + listen_fds(),
    };
    let (parent_end, child_end) = channel::pair()?;
    let runtime_namespaces = plan.namespaces.enter_for_children()?;
    let forked = clone::clone3(plan.namespaces.clone_flags(), req.cgroup_fd);
    let (pid, pidfd) = match forked {
        Ok(Forked::Child) => {
            drop(parent_end);
            drop(runtime_namespaces);
            child::run(req, &plan, child_end)
        }
        Ok(Forked::Parent { pid, pidfd }) => (pid, pidfd),
        Err(err) => {
            runtime_namespaces.restore()?;
            return Err(err);
        }
    };
    drop(child_end);
    // The console socket and the start socket belong to the child now: the parent keeps no copy
    // (if the child dies, `start` gets ECONNREFUSED instead of hanging).
    let console = std::mem::replace(&mut req.console, Console::Inherit);
    let immediate = matches!(req.start_gate, StartGate::Immediate);
    req.start_gate = StartGate::Immediate;
    let pty_to_parent = matches!(console, Console::ToParent)
        && req
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
    drop(console);

    let driven = runtime_namespaces
        .restore()
        .map_err(WaitError::Local)
        .and_then(|()| drive(&mut req, &plan, &parent_end, pid, pty_to_parent, immediate));
    match driven {
        Ok(pty_master) => Ok(Spawned {
            pid,
            pidfd,
            pty_master,
            channel: immediate.then_some(ParentChannel(parent_end)),
        }),
        Err(failure) => Err(abort(&pidfd, failure)),
    }
}

/// The parent's half of the protocol, in the child's order. Returns the pty master, if any.
fn drive(
    req: &mut SpawnRequest<'_>,
    plan: &InitPlan<'_>,
    channel: &Channel,
    pid: i32,
    pty_to_parent: bool,
    immediate: bool,
) -> Result<Option<OwnedFd>, WaitError> {
    if plan.namespaces.creates(LinuxNamespaceType::User) {
        user::write_id_mappings(pid, req.spec).map_err(WaitError::Local)?;
    }
    if child::waits_for_continue(req, &plan.namespaces) {
        send(channel, &Message::Continue { host_pid: pid }, None)?;
    }
    // First, the child needs it soonest. Not built (an old kernel, an option fsconfig refuses):
    // the child mounts /dev itself and reports what fails there. Not fully populated (a mknod the
    // runtime is refused, e.g. in a user namespace or under its own cgroup's device filter): the
    // child makes what is missing, as it would have made all of it.
    if let Some(dev) = &plan.dev {
        let built = devfs::build(req.spec, dev).ok();
        send(channel, &Message::Dev, built.as_ref().map(|fd| fd.as_fd()))?;
        if let Some(dev) = built {
            let complete = devfs::populate(req.spec, dev.as_fd()).is_ok();
            send(channel, &Message::DevPopulated { complete }, None)?;
        }
    }
    // While the child mounts. Its result goes after the runtime hooks handshake: the child reads
    // the parent's messages in that order.
    if let Some(work) = req.parent_work.as_mut() {
        (work.run)().map_err(|detail| {
            WaitError::Local(SpawnError::with_detail(Phase::Setup, work.step, detail))
        })?;
    }
    if wants_runtime_hooks(req) {
        channel.wait_for_runtime_hooks_request()?;
        if let Some(run_hooks) = req.runtime_hooks.as_mut() {
            run_hooks(pid).map_err(|detail| {
                WaitError::Local(SpawnError::with_detail(Phase::Setup, "run hooks", detail))
            })?;
        }
        send(channel, &Message::RuntimeHooksDone, None)?;
    }
    if req.parent_work.is_some() {
        send(channel, &Message::ParentWorkDone, None)?;
    }
    let pty_master = if pty_to_parent {
        Some(channel.wait_for_pty_master()?)
    } else {
        None
    };
    let listener_wanted = req.seccomp.is_some() && req.on_seccomp_listener.is_some();
    let seccomp_early = req
        .spec
        .process()
        .as_ref()
        .is_some_and(child::seccomp_before_user_switch);
    if listener_wanted && seccomp_early {
        receive_seccomp_listener(req.on_seccomp_listener.as_mut(), channel)?;
    }
    channel.wait_for_ready()?;
    if listener_wanted && !seccomp_early && immediate {
        receive_seccomp_listener(req.on_seccomp_listener.as_mut(), channel)?;
    }
    Ok(pty_master)
}

/// Receives the seccomp step's message and hands its listener fd, if any, to the runtime.
pub(crate) fn receive_seccomp_listener(
    on_listener: Option<&mut OnSeccompListener<'_>>,
    channel: &Channel,
) -> Result<(), WaitError> {
    let listener = channel.wait_for_seccomp()?;
    match (listener, on_listener) {
        (Some(listener), Some(on_listener)) => on_listener(listener).map_err(|detail| {
            WaitError::Local(SpawnError::with_detail(
                Phase::Setup,
                "seccomp listener",
                detail,
            ))
        }),
        _ => Ok(()),
    }
}

/// Sends `message`. When the child is gone (EPIPE, or ECONNRESET when it left messages unread),
/// its own error report, if it sent one, is the error; else that it died without one.
fn send(channel: &Channel, message: &Message, fd: Option<BorrowedFd<'_>>) -> Result<(), WaitError> {
    match channel.send(message, fd) {
        Ok(()) => Ok(()),
        Err(Errno::EPIPE | Errno::ECONNRESET) => {
            Err(channel.pending_report().unwrap_or(WaitError::Closed))
        }
        Err(errno) => Err(WaitError::Local(SpawnError::new(
            Phase::Setup,
            "write the sync channel",
            errno,
        ))),
    }
}

/// Makes sure the child is gone and reaped, and says why it failed.
pub(crate) fn abort(pidfd: &OwnedFd, failure: WaitError) -> SpawnError {
    match failure {
        // The child sent its error and is exiting by itself.
        WaitError::Reported(err) => {
            reap(pidfd);
            err
        }
        WaitError::Closed => died_without_report(reap(pidfd)),
        WaitError::Local(err) => {
            kill(pidfd);
            reap(pidfd);
            err
        }
    }
}

fn kill(pidfd: &OwnedFd) {
    // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo and no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

fn reap(pidfd: &OwnedFd) -> Option<WaitStatus> {
    loop {
        match wait::waitid(Id::PIDFd(pidfd.as_fd()), WaitPidFlag::WEXITED) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.ok(),
        }
    }
}

fn died_without_report(status: Option<WaitStatus>) -> SpawnError {
    let how = match status {
        Some(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
        Some(WaitStatus::Signaled(_, signal, _)) => format!("was killed by {signal}"),
        _ => "exited".to_owned(),
    };
    SpawnError::with_detail(
        Phase::Setup,
        "container init",
        format!("{how} without reporting an error"),
    )
}

/// `$LISTEN_FDS` (socket activation) fds follow the preserved ones (runtime-contract §1.5.7).
pub(crate) fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
