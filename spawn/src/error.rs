//! The one error type that leaves the spawn crate: phase + step + path + errno.

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// Which part of bringing up the process failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// `clone3` itself (or a namespace join done before it).
    Clone,
    /// A pre-exec step in the child (mounts, user, capabilities...).
    Setup,
    /// `execve` of the container process (or finding the executable).
    Exec,
}

/// A failure while creating the container process, sent from the child to the parent as one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.render())]
pub struct SpawnError {
    pub phase: Phase,
    /// The step, e.g. `mount proc on /proc`, `setuid 1000`, `exec "/bin/nosuch"`.
    pub step: String,
    /// Raw errno, 0 when the failure has none.
    pub errno: i32,
    /// Extra text that replaces the errno description when set (e.g. "executable file not found in $PATH").
    pub detail: Option<String>,
}

impl SpawnError {
    pub fn new(phase: Phase, step: impl Into<String>, errno: Errno) -> Self {
        Self {
            phase,
            step: step.into(),
            errno: errno as i32,
            detail: None,
        }
    }

    pub fn setup(step: impl Into<String>, errno: Errno) -> Self {
        Self::new(Phase::Setup, step, errno)
    }

    pub fn with_detail(phase: Phase, step: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            phase,
            step: step.into(),
            errno: 0,
            detail: Some(detail.into()),
        }
    }

    fn render(&self) -> String {
        if let Some(detail) = &self.detail {
            return format!("{}: {}", self.step, detail);
        }
        let errno = Errno::from_raw(self.errno);
        let desc = errno_text(errno);
        match self.phase {
            // podman classifies exec failures by these exact substrings (oci_util.go).
            Phase::Exec => format!("{}: {}", self.step, desc),
            _ => format!("{}: {} ({:?})", self.step, desc, errno),
        }
    }
}

/// strerror-style lower-case text, as Go's syscall.Errno prints it ("no such file or directory").
pub fn errno_text(errno: Errno) -> String {
    let s = errno.desc();
    let mut out = s.to_string();
    if let Some(first) = out.get_mut(0..1) {
        first.make_ascii_lowercase();
    }
    out
}
