//! `tmpcopyup`: a tmpfs mounted over a directory starts with a copy of that directory's content
//! (runtime-spec config.md; runc and crun support it, podman asks for it on `--tmpfs`).
//!
//! The directory is opened before the mount; that fd still reads the covered content afterwards,
//! so no scratch directory on the host is needed (crun does the same).

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};

/// Opens a directory (given as an O_PATH fd) for reading its entries.
pub(super) fn open_dir(path_fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    openat(
        path_fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Copies every entry of `from` into `to` (both directories opened with [`open_dir`]),
/// recursively, keeping type, mode and owner.
pub(super) fn copy_tree(from: OwnedFd, to: BorrowedFd<'_>) -> nix::Result<()> {
    let mut dir = Dir::from_fd(from)?;
    // SAFETY: the fd belongs to `dir`, which stays open for the whole loop that uses the borrow.
    let from = unsafe { BorrowedFd::borrow_raw(dir.as_raw_fd()) };
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        copy_entry(from, to, name)?;
    }
    Ok(())
}

fn copy_entry(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &CStr) -> nix::Result<()> {
    let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(to, name, mode)?;
            let source = openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            let target = openat(
                to,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            copy_tree(source, target.as_fd())?;
        }
        SFlag::S_IFREG => {
            let mut source = File::from(openat(
                from,
                name,
                OFlag::O_RDONLY | nofollow,
                Mode::empty(),
            )?);
            let create = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow;
            let mut target = File::from(openat(to, name, create, mode)?);
            std::io::copy(&mut source, &mut target)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        }
        SFlag::S_IFLNK => {
            symlinkat(readlinkat(from, name)?.as_os_str(), to, name)?;
            return set_owner(to, name, &st);
        }
        _ => mknodat(to, name, kind, mode, st.st_rdev)?,
    }
    set_owner(to, name, &st)?;
    // Creation modes went through the umask.
    fchmodat(to, name, mode, FchmodatFlags::FollowSymlink)
}

fn set_owner(dir: BorrowedFd<'_>, name: &CStr, st: &FileStat) -> nix::Result<()> {
    let (uid, gid) = (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid));
    fchownat(
        dir,
        name,
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}
