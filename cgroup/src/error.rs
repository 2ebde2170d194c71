//! Errors of the cgroup crate: every variant carries the file, field or controller it is about.

use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;

/// An errno shown as `no such file or directory (ENOENT)`, the form husk prints everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysError(pub Errno);

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.0.desc().to_lowercase(), self.0)
    }
}

impl From<io::Error> for SysError {
    fn from(e: io::Error) -> Self {
        SysError(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

impl From<Errno> for SysError {
    fn from(e: Errno) -> Self {
        SysError(e)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup: no cgroup2 hierarchy: neither /sys/fs/cgroup nor /sys/fs/cgroup/unified is a cgroup2 filesystem")]
    NoCgroup2,
    #[error("cgroup: invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("cgroup: {what} requested but the {controller} controller is not available in {}", root.display())]
    ControllerUnavailable {
        what: String,
        controller: String,
        root: PathBuf,
    },
    #[error("cgroup: enable the {controller} controller in {}: {errno}", path.display())]
    EnableController {
        path: PathBuf,
        controller: String,
        errno: SysError,
    },
    #[error("cgroup: invalid {field}: {reason}")]
    InvalidResource { field: &'static str, reason: String },
    #[error("cgroup: mkdir {}: {errno}", path.display())]
    Mkdir { path: PathBuf, errno: SysError },
    #[error("cgroup: rmdir {}: {errno}", path.display())]
    Rmdir { path: PathBuf, errno: SysError },
    #[error("cgroup: open {}: {errno}", path.display())]
    Open { path: PathBuf, errno: SysError },
    #[error("cgroup: read {}: {errno}", path.display())]
    Read { path: PathBuf, errno: SysError },
    #[error("cgroup: write {value:?} to {}: {errno}", path.display())]
    Write {
        path: PathBuf,
        value: String,
        errno: SysError,
    },
    #[error("cgroup: unexpected content in {}: {content:?}", path.display())]
    Parse { path: PathBuf, content: String },
    #[error("cgroup: kill pid {pid} with signal {signal}: {errno}")]
    Kill {
        pid: i32,
        signal: i32,
        errno: SysError,
    },
    #[error("cgroup: timed out after {ms} ms waiting for {what} in {}", path.display())]
    Timeout {
        path: PathBuf,
        what: &'static str,
        ms: u64,
    },
    #[error("cgroup: cannot remove {}: device or resource busy (EBUSY), processes still in it: {pids:?}", path.display())]
    Busy { path: PathBuf, pids: Vec<i32> },
    #[error("cgroup: bpf {op} for {}: {errno}{}", path.display(), verifier_log(log))]
    Bpf {
        op: &'static str,
        path: PathBuf,
        errno: SysError,
        log: String,
    },
}

fn verifier_log(log: &str) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!(" (verifier: {})", log.trim_end_matches('\0').trim())
    }
}

impl CgroupError {
    /// The errno behind a failed file operation, for callers that tolerate e.g. ENOENT.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            CgroupError::Mkdir { errno, .. }
            | CgroupError::Rmdir { errno, .. }
            | CgroupError::Open { errno, .. }
            | CgroupError::Read { errno, .. }
            | CgroupError::Write { errno, .. }
            | CgroupError::EnableController { errno, .. }
            | CgroupError::Kill { errno, .. }
            | CgroupError::Bpf { errno, .. } => Some(errno.0),
            _ => None,
        }
    }
}
