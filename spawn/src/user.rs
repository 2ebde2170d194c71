//! Identity: uid/gid mappings of a new user namespace (written by the parent) and the process
//! user (groups, gid, uid, umask) the child switches to.

use std::fmt::Write as _;

use nix::sys::stat::{self, Mode};
use nix::unistd::{self, Gid, Uid};
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
    let root_gid = Gid::from_raw(0);
    let root_uid = Uid::from_raw(0);
    unistd::setresgid(root_gid, root_gid, root_gid)
        .map_err(|e| SpawnError::setup("setresgid 0 in the user namespace", e))?;
    unistd::setresuid(root_uid, root_uid, root_uid)
        .map_err(|e| SpawnError::setup("setresuid 0 in the user namespace", e))
}

/// `process.user`: supplementary groups (always set, so no runtime group leaks in), then gid,
/// then uid (setgid needs CAP_SETGID, lost once the uid is not 0), with PR_SET_KEEPCAPS so the
/// permitted set survives for the capabilities step; then the umask.
pub(crate) fn switch_user(user: &User) -> Result<(), SpawnError> {
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|&g| Gid::from_raw(g))
        .collect();
    unistd::setgroups(&groups).map_err(|e| SpawnError::setup("setgroups", e))?;
    // SAFETY: prctl(PR_SET_KEEPCAPS, 1) takes no pointers.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(SpawnError::setup(
            "prctl PR_SET_KEEPCAPS",
            nix::errno::Errno::last(),
        ));
    }
    let gid = Gid::from_raw(user.gid());
    unistd::setresgid(gid, gid, gid)
        .map_err(|e| SpawnError::setup(format!("setgid {}", user.gid()), e))?;
    let uid = Uid::from_raw(user.uid());
    unistd::setresuid(uid, uid, uid)
        .map_err(|e| SpawnError::setup(format!("setuid {}", user.uid()), e))?;
    stat::umask(Mode::from_bits_truncate(
        user.umask().unwrap_or(DEFAULT_UMASK),
    ));
    Ok(())
}
