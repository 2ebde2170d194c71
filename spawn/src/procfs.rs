//! Checked writes to /proc: the file must be on a real procfs (fstatfs PROC_SUPER_MAGIC) before
//! anything is written, so a container that mounted something over /proc cannot redirect a
//! sysctl or oom_score_adj write.

use nix::fcntl::{self, OFlag};
use nix::sys::stat::Mode;
use nix::sys::statfs;

use crate::error::SpawnError;

/// Writes `value` to the procfs file at `path` in one write(2).
pub(crate) fn write(path: &str, value: &[u8]) -> Result<(), SpawnError> {
    let step = || format!("write {path}");
    let fd = fcntl::open(
        path,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| SpawnError::setup(step(), e))?;
    let fs = statfs::fstatfs(&fd).map_err(|e| SpawnError::setup(step(), e))?;
    if fs.filesystem_type() != statfs::PROC_SUPER_MAGIC {
        return Err(SpawnError::with_detail(
            crate::Phase::Setup,
            step(),
            "not on a procfs mount",
        ));
    }
    match nix::unistd::write(&fd, value) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(_) => Err(SpawnError::with_detail(
            crate::Phase::Setup,
            step(),
            "short write",
        )),
        Err(e) => Err(SpawnError::setup(step(), e)),
    }
}

/// `linux.sysctl`: each key into /proc/sys/<key with '.' as '/'>.
pub(crate) fn write_sysctls<'a>(
    sysctls: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), SpawnError> {
    for (key, value) in sysctls {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        write(&path, value.as_bytes())?;
    }
    Ok(())
}

/// `process.oomScoreAdj`, only when present (runtime spec: MUST NOT touch it otherwise).
pub(crate) fn write_oom_score_adj(score: i32) -> Result<(), SpawnError> {
    write("/proc/self/oom_score_adj", score.to_string().as_bytes())
}
