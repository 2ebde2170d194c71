//! The new mount API (fsopen(2), fsconfig(2), fsmount(2), move_mount(2); Linux >= 5.2): a
//! filesystem instance made in one process as a detached mount fd and attached in another. nix
//! 0.32 has no wrappers; libc has the numbers and constants.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// A filesystem context: fsopen(2), configured by [`FsContext::set`], then [`FsContext::mount`].
pub(crate) struct FsContext(OwnedFd);

impl FsContext {
    pub(crate) fn open(fstype: &str) -> nix::Result<FsContext> {
        let fstype = cstring(fstype)?;
        // SAFETY: fsopen with a NUL-terminated name and flags; returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
        // SAFETY: a non-negative return is a new fd that we own.
        Errno::result(fd).map(|fd| FsContext(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// One `key=value` or bare `key` of the filesystem's options, as in mount(2)'s data string.
    pub(crate) fn set(&self, option: &str) -> nix::Result<()> {
        match option.split_once('=') {
            Some((key, value)) => self.config(libc::FSCONFIG_SET_STRING, key, Some(value)),
            None => self.config(libc::FSCONFIG_SET_FLAG, option, None),
        }
    }

    /// Creates the superblock and returns it as a detached mount with `attributes`
    /// (MOUNT_ATTR_*), close-on-exec.
    pub(crate) fn mount(self, attributes: u64) -> nix::Result<OwnedFd> {
        // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
        let created = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                libc::FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
        Errno::result(created)?;
        // SAFETY: fsmount on a created context with valid flags; returns a new fd or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.0.as_raw_fd(),
                libc::FSMOUNT_CLOEXEC,
                attributes,
            )
        };
        // SAFETY: a non-negative return is a new fd that we own.
        Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn config(&self, command: libc::c_uint, key: &str, value: Option<&str>) -> nix::Result<()> {
        let key = cstring(key)?;
        let value = value.map(cstring).transpose()?;
        let value_ptr = value
            .as_ref()
            .map_or(std::ptr::null(), |v| v.as_ptr().cast::<libc::c_void>());
        // SAFETY: key and value are NUL-terminated strings (or null for a flag), alive for the
        // call; the kernel only reads them.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                command,
                key.as_ptr(),
                value_ptr,
                0,
            )
        };
        Errno::result(ret).map(drop)
    }
}

/// move_mount(2) of the detached mount `mount` onto the directory `target` (both fds).
pub(crate) fn attach(mount: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: both paths are empty NUL-terminated strings naming the fds themselves.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

fn cstring(text: &str) -> nix::Result<CString> {
    CString::new(text).map_err(|_| Errno::EINVAL)
}
