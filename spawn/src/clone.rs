//! `clone3(2)` straight from the calling process: no re-exec of the husk binary, every new namespace
//! in the first clone, the child born in its cgroup and a pidfd for the parent.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::error::{Phase, SpawnError};

/// `CLONE_INTO_CGROUP` from linux/sched.h; the libc crate's constant evaluates to 0 on this target.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which side of the clone the caller is on.
pub(crate) enum Forked {
    Child,
    Parent { pid: i32, pidfd: OwnedFd },
}

/// `clone3` with `CLONE_PIDFD`, the given `CLONE_NEW*` flags and, with `cgroup_fd`,
/// `CLONE_INTO_CGROUP` (the child never runs outside its cgroup: no `cgroup.procs` write).
pub(crate) fn clone3(namespace_flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, SpawnError> {
    let mut pidfd: RawFd = -1;
    let mut flags = libc::CLONE_PIDFD as u64 | namespace_flags;
    if cgroup_fd.is_some() {
        flags |= CLONE_INTO_CGROUP;
    }
    let mut args = libc::clone_args {
        flags,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        // No stack: without CLONE_VM the child runs on its copy of our stack, as after fork(2).
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup_fd.map_or(0, |fd| fd as u64),
    };
    // SAFETY: `args` is a valid clone_args of the size passed; without CLONE_VM and with no stack
    // the kernel duplicates the address space, so both sides return here like fork(2). The pidfd
    // pointer stays valid for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match ret {
        -1 => Err(SpawnError::new(Phase::Clone, "clone3", Errno::last())),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: with CLONE_PIDFD the kernel stored a new, owned (O_CLOEXEC) pidfd here.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}
