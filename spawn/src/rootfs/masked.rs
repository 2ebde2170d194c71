//! linux.maskedPaths, linux.readonlyPaths and root.readonly, applied after pivot_root on
//! container paths. A path the rootfs does not have is skipped (runtime-spec config-linux.md).

use nix::errno::Errno;
use nix::mount::MsFlags;
use std::path::Path;

use super::{lockable_flags, mount};
use crate::SpawnError;

/// Hides `path`: /dev/null bound over a file, an empty read-only tmpfs over a directory.
///
/// The type is looked up first: binding a file over a directory fails only after the kernel has
/// cloned the mount, and freeing that clone waits for an expedited RCU grace period (about 45 us
/// here), and the default list has two directories (/proc/acpi, /sys/firmware).
pub(super) fn mask(path: &str) -> Result<(), SpawnError> {
    let fail = |e| SpawnError::setup(format!("mask {path}"), e);
    let is_dir = match nix::sys::stat::stat(path) {
        Ok(st) => st.st_mode & libc::S_IFMT == libc::S_IFDIR,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(fail(e)),
    };
    let empty_tmpfs = || {
        mount(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
    };
    if is_dir {
        return empty_tmpfs().map_err(fail);
    }
    match mount(
        Some(Path::new("/dev/null")),
        path,
        None,
        MsFlags::MS_BIND,
        None,
    ) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        // Replaced by a directory since the stat (mount(2) ENOTDIR).
        Err(Errno::ENOTDIR) => empty_tmpfs().map_err(fail),
        Err(e) => Err(fail(e)),
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
