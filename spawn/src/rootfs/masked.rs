//! linux.maskedPaths, linux.readonlyPaths and root.readonly, applied after pivot_root on
//! container paths. A path the rootfs does not have is skipped (runtime-spec config-linux.md).

use nix::errno::Errno;
use nix::mount::MsFlags;
use std::path::Path;

use super::{lockable_flags, mount};
use crate::SpawnError;

/// Hides `path`: /dev/null bound over a file, an empty read-only tmpfs over a directory.
pub(super) fn mask(path: &str) -> Result<(), SpawnError> {
    match mount(
        Some(Path::new("/dev/null")),
        path,
        None,
        MsFlags::MS_BIND,
        None,
    ) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        // A file cannot be bound over a directory (mount(2) ENOTDIR).
        Err(Errno::ENOTDIR) => mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
        .map_err(|e| SpawnError::setup(format!("mask {path}"), e)),
        Err(e) => Err(SpawnError::setup(format!("mask {path}"), e)),
    }
}

/// Binds `path` onto itself and remounts the bind read-only.
pub(super) fn make_readonly(path: &str) -> Result<(), SpawnError> {
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    match mount(Some(Path::new(path)), path, None, bind, None) {
        Ok(()) => remount_readonly(path)
            .map_err(|e| SpawnError::setup(format!("make {path} read-only"), e)),
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(SpawnError::setup(format!("make {path} read-only"), e)),
    }
}

/// root.readonly: remounts "/" read-only.
pub(super) fn readonly_root() -> Result<(), SpawnError> {
    remount_readonly("/").map_err(|e| SpawnError::setup("remount / read-only", e))
}

/// MS_BIND|MS_REMOUNT|MS_RDONLY keeping the other flags: a bind remount replaces all the
/// per-mount flags (mount(2)), and in a user namespace dropping a locked one is EPERM.
fn remount_readonly(path: &str) -> nix::Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | lockable_flags(path)?;
    mount(None, path, None, flags, None)
}
