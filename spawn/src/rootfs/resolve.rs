//! Finds paths inside the rootfs without ever leaving it.
//!
//! Every lookup is openat2(rootfs_fd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): an absolute
//! symlink or a ".." in the rootfs resolves against the rootfs, never the host (openat2(2)). The
//! result is an O_PATH fd; mounts then target `/proc/self/fd/<fd>`, so the path cannot be swapped
//! between the check and the mount.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, mknodat, Mode, SFlag};

use crate::SpawnError;

/// What to create at the end of a missing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leaf {
    Dir,
    /// An empty regular file: the mount point of a bind-mounted file or device node.
    File,
}

/// `dest` made relative to the container root, with "." dropped and ".." applied lexically
/// (clamped at the root), as runc's CleanPath does.
pub(super) fn clean(dest: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in dest.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The container path of a cleaned relative path, for messages: "/dev/null".
pub(super) fn shown(rel: &Path) -> String {
    format!("/{}", rel.display())
}

/// `/proc/self/fd/<fd>`: the path mount(2) and friends use to act on exactly that file.
pub(super) fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens `rel` inside `root` as an O_PATH fd. `extra` adds resolve flags (e.g. no symlinks).
pub(super) fn open_in_root(
    root: BorrowedFd<'_>,
    rel: &Path,
    extra: ResolveFlag,
) -> nix::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS | extra);
    // openat2(2): RESOLVE_IN_ROOT lookups fail with EAGAIN when a rename or mount raced with
    // them; a retry is the documented answer.
    let mut attempts = 0;
    loop {
        match openat2(root, rel, how) {
            Err(Errno::EAGAIN) if attempts < 16 => attempts += 1,
            result => return result,
        }
    }
}

/// Opens `rel` inside `root`, first creating it (and every missing parent directory, 0755) when
/// it does not exist. Returns the O_PATH fd and whether the path existed before.
pub(super) fn open_or_create(
    root: BorrowedFd<'_>,
    rel: &Path,
    leaf: Leaf,
    extra: ResolveFlag,
) -> Result<(OwnedFd, bool), SpawnError> {
    match open_in_root(root, rel, extra) {
        Ok(fd) => return Ok((fd, true)),
        Err(Errno::ENOENT) => {}
        Err(errno) => return Err(SpawnError::setup(format!("open {}", shown(rel)), errno)),
    }
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(SpawnError::setup(
            format!("open {}", shown(rel)),
            Errno::ENOENT,
        ));
    };
    let parent_fd = if parent.as_os_str().is_empty() {
        None
    } else {
        Some(open_or_create(root, parent, Leaf::Dir, extra)?.0)
    };
    let dir = parent_fd.as_ref().map_or(root, |fd| fd.as_fd());
    // `name` is one component and mkdirat/mknodat never follow a final symlink, so the new
    // entry lands in the directory resolved above. EEXIST: someone (or a dangling symlink) was
    // first; the reopen below decides.
    let created = match leaf {
        Leaf::Dir => mkdirat(dir, name, Mode::from_bits_truncate(0o755)).map_err(|e| (e, "mkdir")),
        Leaf::File => mknodat(
            dir,
            name,
            SFlag::S_IFREG,
            Mode::from_bits_truncate(0o644),
            0,
        )
        .map_err(|e| (e, "create")),
    };
    match created {
        Ok(()) | Err((Errno::EEXIST, _)) => {}
        Err((errno, op)) => return Err(SpawnError::setup(format!("{op} {}", shown(rel)), errno)),
    }
    open_in_root(root, rel, extra)
        .map(|fd| (fd, false))
        .map_err(|errno| SpawnError::setup(format!("open {}", shown(rel)), errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_lexical_and_clamped() {
        assert_eq!(clean(Path::new("/dev/pts")), PathBuf::from("dev/pts"));
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(clean(Path::new("/../../etc")), PathBuf::from("etc"));
        assert_eq!(clean(Path::new("/")), PathBuf::new());
        assert_eq!(shown(&clean(Path::new("//proc/"))), "/proc");
    }
}
