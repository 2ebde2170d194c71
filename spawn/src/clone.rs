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
/// Kernels before 5.7 refuse that flag (EINVAL) or the larger clone_args (E2BIG): then the caller
/// moves itself into the cgroup through `cgroup.procs` and the child, cloned without the flag, is
/// still born there.
pub(crate) fn clone3(namespace_flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, SpawnError> {
    match raw_clone3(namespace_flags, cgroup_fd) {
        Err(err) if cgroup_fd.is_some() && [Errno::EINVAL, Errno::E2BIG].contains(&err) => {
            move_self_into(cgroup_fd.expect("checked above"))?;
            raw_clone3(namespace_flags, None)
        }
        result => result,
    }
    .map_err(|errno| SpawnError::new(Phase::Clone, "clone3", errno))
}

/// Writes this process's pid ("0") into `cgroup.procs` of the cgroup behind `cgroup_fd`.
pub(crate) fn move_self_into(cgroup_fd: RawFd) -> Result<(), SpawnError> {
    let step = "write cgroup.procs of the container cgroup";
    // SAFETY: the caller owns `cgroup_fd` and keeps it open for the duration of this call.
    let cgroup = unsafe { std::os::fd::BorrowedFd::borrow_raw(cgroup_fd) };
    let procs = nix::fcntl::openat(
        cgroup,
        "cgroup.procs",
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SpawnError::new(Phase::Clone, step, e))?;
    nix::unistd::write(&procs, b"0").map_err(|e| SpawnError::new(Phase::Clone, step, e))?;
    Ok(())
}

fn raw_clone3(namespace_flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, Errno> {
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
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: with CLONE_PIDFD the kernel stored a new, owned (O_CLOEXEC) pidfd here.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::path::PathBuf;

    /// The host's cgroup2: /sys/fs/cgroup itself (pure v2 or hack/test-host), else the hybrid
    /// layout's /sys/fs/cgroup/unified.
    fn cgroup2_root() -> PathBuf {
        let pure = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        PathBuf::from(if pure {
            "/sys/fs/cgroup"
        } else {
            "/sys/fs/cgroup/unified"
        })
    }

    /// The fallback for kernels without CLONE_INTO_CGROUP: in a forked child (the test process must
    /// stay where it is), move_self_into puts the process into the cgroup.
    #[test]
    fn move_self_into_writes_cgroup_procs() {
        let name = format!("husk-clone-fallback-{}", std::process::id());
        let dir = cgroup2_root().join(&name);
        std::fs::create_dir(&dir).unwrap();
        let fd = nix::fcntl::open(
            &dir,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        // SAFETY: the child only makes syscalls and reads a file before _exit; the test harness's
        // other threads are not used in it.
        let status = match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let moved = move_self_into(fd.as_raw_fd()).is_ok()
                    && std::fs::read_to_string("/proc/self/cgroup")
                        .is_ok_and(|c| c.contains(&format!("0::/{name}\n")));
                // SAFETY: _exit ends the forked child without running the parent's exit handlers.
                unsafe { libc::_exit(if moved { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => nix::sys::wait::waitpid(child, None),
        };
        std::fs::remove_dir(&dir).unwrap();
        assert!(
            matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0))),
            "child not in {name}: {status:?}"
        );
    }
}
