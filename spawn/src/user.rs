//! Identity: uid/gid mappings of a new user namespace (written by the parent) and the process
//! user (groups, gid, uid, umask) the child switches to.

use std::fmt::Write as _;

use nix::errno::Errno;
use nix::sys::stat::{self, Mode};
use oci_spec::runtime::{LinuxIdMapping, Spec, User};

use crate::error::{Phase, SpawnError};
use crate::namespaces::io_errno;

/// Default umask when `process.user.umask` is unset (runc).
const DEFAULT_UMASK: u32 = 0o022;

/// In the parent, while the child waits: `linux.uidMappings`/`gidMappings` into
/// `/proc/<pid>/uid_map` and `gid_map`, one write each (user_namespaces(7): a map is written once).
pub(crate) fn write_id_mappings(pid: i32, spec: &Spec) -> Result<(), SpawnError> {
    let linux = spec.linux().as_ref();
    write_map(
        pid,
        "uid_map",
        linux.and_then(|l| l.uid_mappings().as_deref()),
    )?;
    write_map(
        pid,
        "gid_map",
        linux.and_then(|l| l.gid_mappings().as_deref()),
    )
}

fn write_map(pid: i32, file: &str, mappings: Option<&[LinuxIdMapping]>) -> Result<(), SpawnError> {
    let Some(mappings) = mappings.filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let mut text = String::with_capacity(32 * mappings.len());
    for m in mappings {
        let _ = writeln!(text, "{} {} {}", m.container_id(), m.host_id(), m.size());
    }
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text)
        .map_err(|e| SpawnError::new(Phase::Clone, format!("write {path}"), io_errno(&e)))
}

/// In the child, in a user namespace: become its root so that the setup runs as uid/gid 0 there.
pub(crate) fn become_namespace_root() -> Result<(), SpawnError> {
    set_ids(libc::SYS_setresgid, 0)
        .map_err(|e| SpawnError::setup("setresgid 0 in the user namespace", e))?;
    set_ids(libc::SYS_setresuid, 0)
        .map_err(|e| SpawnError::setup("setresuid 0 in the user namespace", e))
}

/// `process.user`: supplementary groups (always set, so no runtime group leaks in), then gid,
/// then uid (setgid needs CAP_SETGID, lost once the uid is not 0), with PR_SET_KEEPCAPS so the
/// permitted set survives for the capabilities step; then the umask.
pub(crate) fn switch_user(user: &User) -> Result<(), SpawnError> {
    let groups: &[u32] = user.additional_gids().as_deref().unwrap_or_default();
    // SAFETY: the pointer and length describe `groups` (gid_t is u32), which outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
    if ret != 0 {
        return Err(SpawnError::setup("setgroups", Errno::last()));
    }
    // Only a switch away from uid 0 clears the permitted set (capabilities(7)).
    // SAFETY: prctl(PR_SET_KEEPCAPS, 1) takes no pointers.
    if user.uid() != 0 && unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(SpawnError::setup("prctl PR_SET_KEEPCAPS", Errno::last()));
    }
    set_ids(libc::SYS_setresgid, user.gid())
        .map_err(|e| SpawnError::setup(format!("setgid {}", user.gid()), e))?;
    set_ids(libc::SYS_setresuid, user.uid())
        .map_err(|e| SpawnError::setup(format!("setuid {}", user.uid()), e))?;
    stat::umask(Mode::from_bits_truncate(
        user.umask().unwrap_or(DEFAULT_UMASK),
    ));
    Ok(())
}

/// setresuid/setresgid(id, id, id) as the raw syscall. glibc's wrappers (and nix's, which call
/// them) broadcast the change to every thread glibc knows of (nptl_setxid.c); after clone3 from a
/// multi-threaded caller its thread list still names the caller's other threads, which do not
/// exist in the child, and the wrapper can wait for them forever. The child is single-threaded,
/// so the per-thread syscall is the whole process.
fn set_ids(syscall: libc::c_long, id: u32) -> Result<(), Errno> {
    // SAFETY: setresuid/setresgid take three integer ids, no pointers.
    let ret = unsafe { libc::syscall(syscall, id, id, id) };
    Errno::result(ret).map(drop)
}
