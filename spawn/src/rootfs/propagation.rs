//! Cuts the container's mount tree off from the host's and makes the rootfs a mount point.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use super::mount;
use crate::{Phase, SpawnError};

/// linux.rootfsPropagation as mount flags, always recursive. Default MS_SLAVE|MS_REC as runc:
/// host mounts still propagate in, nothing the container mounts propagates out.
pub(super) fn root_flags(spec: &Spec) -> Result<MsFlags, SpawnError> {
    let value = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref());
    let kind = match value {
        None | Some("") => MsFlags::MS_SLAVE,
        Some("shared" | "rshared") => MsFlags::MS_SHARED,
        Some("slave" | "rslave") => MsFlags::MS_SLAVE,
        Some("private" | "rprivate") => MsFlags::MS_PRIVATE,
        Some("unbindable" | "runbindable") => MsFlags::MS_UNBINDABLE,
        Some(other) => {
            return Err(SpawnError::with_detail(
                Phase::Setup,
                "linux.rootfsPropagation",
                format!("unknown propagation {other:?}"),
            ))
        }
    };
    Ok(kind | MsFlags::MS_REC)
}

/// Applies the root propagation to "/". With a shared root the rootfs' parent mount is made
/// private first: pivot_root(2) refuses a shared parent (EINVAL) and the self-bind would
/// propagate to the host.
pub(super) fn isolate(flags: MsFlags, rootfs: &Path) -> Result<(), SpawnError> {
    mount(None, "/", None, flags, None).map_err(|e| {
        SpawnError::setup(
            format!("set propagation of / ({})", propagation_name(flags)),
            e,
        )
    })?;
    if flags.contains(MsFlags::MS_SHARED) {
        make_parent_private(rootfs)?;
    }
    Ok(())
}

/// Binds the rootfs onto itself so it is a mount point (pivot_root(2) needs one).
pub(super) fn bind_rootfs(rootfs: &Path) -> Result<(), SpawnError> {
    mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .map_err(|e| SpawnError::setup(format!("bind rootfs {}", rootfs.display()), e))
}

/// After pivot: a shared root propagation is applied to the new "/" (it could not be before
/// pivot_root, see [`isolate`]).
pub(super) fn share_root(spec: &Spec) -> Result<(), SpawnError> {
    let flags = root_flags(spec)?;
    if !flags.contains(MsFlags::MS_SHARED) {
        return Ok(());
    }
    mount(None, "/", None, flags, None)
        .map_err(|e| SpawnError::setup("set propagation of / (rshared)", e))
}

/// Walks up from `rootfs` until a mount point accepts MS_PRIVATE (EINVAL: not a mount point),
/// without reading mountinfo (crun's make_parent_mount_private).
fn make_parent_private(rootfs: &Path) -> Result<(), SpawnError> {
    for dir in rootfs.ancestors() {
        let target = if dir.as_os_str().is_empty() {
            Path::new("/")
        } else {
            dir
        };
        match mount(None, target, None, MsFlags::MS_PRIVATE, None) {
            Ok(()) => return Ok(()),
            Err(Errno::EINVAL) => continue,
            Err(e) => {
                return Err(SpawnError::setup(
                    format!("make {} private", target.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

fn propagation_name(flags: MsFlags) -> &'static str {
    if flags.contains(MsFlags::MS_SHARED) {
        "rshared"
    } else if flags.contains(MsFlags::MS_PRIVATE) {
        "rprivate"
    } else if flags.contains(MsFlags::MS_UNBINDABLE) {
        "runbindable"
    } else {
        "rslave"
    }
}
