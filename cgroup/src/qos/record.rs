//! What husk wrote into an ancestor's memory.min, kept in the xattr `user.husk.qos` on the cgroup
//! directory itself (cgroupfs has user xattrs since Linux 5.7; systemd keeps its markers there the
//! same way). The record lives and dies with the directory: no state file to go stale when someone
//! else removes or recreates the cgroup, and every husk instance (any --root) sees the same record.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use super::error::QosError;

const NAME: &std::ffi::CStr = c"user.husk.qos";
const PREFIX: &str = "memory.min=";

fn c_path(dir: &Path, op: &'static str) -> Result<CString, QosError> {
    CString::new(dir.as_os_str().as_bytes()).map_err(|_| error(dir, op, Errno::EINVAL))
}

fn error(dir: &Path, op: &'static str, errno: Errno) -> QosError {
    QosError::Xattr {
        path: dir.to_owned(),
        op,
        errno: errno.into(),
    }
}

/// The memory.min husk last wrote at `dir`; None when husk has no record there (or the filesystem
/// has no user xattrs).
pub(crate) fn read(dir: &Path) -> Result<Option<u64>, QosError> {
    let path = c_path(dir, "getxattr")?;
    let mut buf = [0u8; 64];
    // SAFETY: path and name are NUL-terminated; buf is writable for buf.len() bytes.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            NAME.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = match usize::try_from(n) {
        Ok(n) => n,
        Err(_) => {
            return match Errno::last() {
                Errno::ENODATA | Errno::EOPNOTSUPP => Ok(None),
                errno => Err(error(dir, "getxattr", errno)),
            }
        }
    };
    // A value husk cannot read is not a record of husk's: the file counts as someone else's.
    Ok(std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|v| v.strip_prefix(PREFIX))
        .and_then(|v| v.parse().ok()))
}

/// Records `memory_min` at `dir`; false when the filesystem has no user xattrs (husk then cannot
/// tell its values from others' and leaves the file alone).
pub(crate) fn write(dir: &Path, memory_min: u64) -> Result<bool, QosError> {
    let path = c_path(dir, "setxattr")?;
    let value = format!("{PREFIX}{memory_min}");
    // SAFETY: path and name are NUL-terminated; value is readable for value.len() bytes.
    let ret = unsafe {
        libc::setxattr(
            path.as_ptr(),
            NAME.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    match ret {
        0 => Ok(true),
        _ => match Errno::last() {
            Errno::EOPNOTSUPP => Ok(false),
            errno => Err(error(dir, "setxattr", errno)),
        },
    }
}

/// Drops husk's record at `dir` (a memory.min husk gave back to 0 is nobody's).
pub(crate) fn remove(dir: &Path) -> Result<(), QosError> {
    let path = c_path(dir, "removexattr")?;
    // SAFETY: path and name are NUL-terminated.
    let ret = unsafe { libc::removexattr(path.as_ptr(), NAME.as_ptr()) };
    match ret {
        0 => Ok(()),
        _ => match Errno::last() {
            Errno::ENODATA | Errno::EOPNOTSUPP => Ok(()),
            errno => Err(error(dir, "removexattr", errno)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        assert!(write(dir.path(), 4096).unwrap());
        assert_eq!(read(dir.path()).unwrap(), Some(4096));
        remove(dir.path()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        remove(dir.path()).unwrap();
        let err = read(&dir.path().join("gone")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "qos: getxattr user.husk.qos on {}: no such file or directory (ENOENT)",
                dir.path().join("gone").display()
            )
        );
    }
}
