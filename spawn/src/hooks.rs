//! Running one OCI hook (runtime spec, config.md "POSIX-platform Hooks"): `path` executed with
//! `args` (`args[0]` is argv0) and exactly `env`, the state JSON on stdin, killed after `timeout`
//! seconds.

use std::io::{self, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::poll::{self, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookFailure {
    #[error("start: {0}")]
    Start(io::Error),
    #[error("wait: {0}")]
    Wait(io::Error),
    #[error("{0}")]
    Exited(ExitStatus),
    #[error("timeout after {0}s")]
    Timeout(i64),
}

/// A failed hook: its kind (e.g. `createContainer`, empty from [`run`]), path and why.
#[derive(Debug, thiserror::Error)]
#[error("{kind}{sep}hook {path:?}: {failure}", sep = if kind.is_empty() { "" } else { " " })]
pub struct HookError {
    pub kind: &'static str,
    pub path: PathBuf,
    pub failure: HookFailure,
}

/// Runs one hook to completion.
pub fn run(hook: &Hook, state_json: &str) -> Result<(), HookError> {
    let fail = |failure| HookError {
        kind: "",
        path: hook.path().clone(),
        failure,
    };
    let mut child = start(hook).map_err(|e| fail(HookFailure::Start(e)))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin closes the pipe: EPIPE is not its failure.
        if let Err(e) = stdin.write_all(state_json.as_bytes()) {
            if e.kind() != io::ErrorKind::BrokenPipe {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(HookFailure::Start(e)));
            }
        }
    }
    let status = match hook.timeout().filter(|&t| t > 0) {
        Some(secs) => wait_with_timeout(&mut child, secs).map_err(fail)?,
        None => child.wait().map_err(|e| fail(HookFailure::Wait(e)))?,
    };
    if !status.success() {
        return Err(fail(HookFailure::Exited(status)));
    }
    Ok(())
}

/// Runs `hooks` in order, stopping at the first failure, which is named by `kind`.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &str) -> Result<(), HookError> {
    for hook in hooks {
        run(hook, state_json).map_err(|e| HookError { kind, ..e })?;
    }
    Ok(())
}

fn start(hook: &Hook) -> io::Result<Child> {
    let mut command = Command::new(hook.path());
    if let Some((argv0, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for entry in hook.env().iter().flatten() {
        match entry.split_once('=') {
            Some((key, value)) => command.env(key, value),
            None => command.env(entry, ""),
        };
    }
    command.stdin(Stdio::piped()).spawn()
}

/// Waits on a pidfd with poll(2) so the timeout needs no thread and no polling loop.
fn wait_with_timeout(child: &mut Child, secs: i64) -> Result<ExitStatus, HookFailure> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
    if raw < 0 {
        return Err(HookFailure::Wait(io::Error::last_os_error()));
    }
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let timeout =
        PollTimeout::try_from(Duration::from_secs(secs as u64)).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let ready = loop {
        match poll::poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(|e| HookFailure::Wait(e.into()))?,
        }
    };
    if ready == 0 {
        let _ = child.kill();
        let _ = child.wait();
        return Err(HookFailure::Timeout(secs));
    }
    child.wait().map_err(HookFailure::Wait)
}
