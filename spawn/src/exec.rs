//! The executable: `args[0]` looked up in `$PATH` of `process.env` inside the container root
//! (before Ready, so `create` reports a missing binary), and the final execve, through husk-dmz
//! (crate::dmz).

use std::ffi::{CString, OsStr};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat;
use nix::unistd;

use crate::dmz::Trampoline;
use crate::error::{Phase, SpawnError};

/// runc's default when `process.env` has no PATH.
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything execve needs, built before Ready.
pub(crate) struct Executable {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// The step in error messages: `exec "args[0]"`.
    step: String,
    /// husk-dmz in its sealed memfd; None when the kernel allows no executable memfd or the
    /// seccomp profile would not let it run.
    dmz: Option<Trampoline>,
}

/// Resolves `args[0]` like Go's exec.LookPath (what runc uses): a name with a '/' is checked as
/// is, otherwise each `$PATH` entry in turn; a match must be a non-directory with an execute bit.
/// `through_dmz`: load the trampoline (see [`crate::dmz::fits`]).
pub(crate) fn find(
    args: &[String],
    env: &[String],
    through_dmz: bool,
) -> Result<Executable, SpawnError> {
    let name = args.first().map(String::as_str).unwrap_or_default();
    let step = format!("exec {name:?}");
    let path = if name.contains('/') {
        check_executable(name.as_bytes())
            .map_err(|e| SpawnError::new(Phase::Exec, step.clone(), e))?;
        name.as_bytes().to_vec()
    } else {
        search_path(name, env).ok_or_else(|| {
            SpawnError::with_detail(
                Phase::Exec,
                step.clone(),
                "executable file not found in $PATH",
            )
        })?
    };
    let cstring = |s: &[u8]| {
        CString::new(s)
            .map_err(|_| SpawnError::with_detail(Phase::Exec, step.clone(), "contains a NUL byte"))
    };
    Ok(Executable {
        path: cstring(&path)?,
        argv: args
            .iter()
            .map(|a| cstring(a.as_bytes()))
            .collect::<Result<_, _>>()?,
        envp: env
            .iter()
            .map(|e| cstring(e.as_bytes()))
            .collect::<Result<_, _>>()?,
        dmz: through_dmz.then(|| Trampoline::load(&step)).flatten(),
        step,
    })
}

fn search_path(name: &str, env: &[String]) -> Option<Vec<u8>> {
    if name.is_empty() {
        return None;
    }
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .map_or(DEFAULT_PATH, str::as_bytes);
    path_var.split(|&b| b == b':').find_map(|dir| {
        // An empty entry means the current directory (POSIX).
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let mut candidate = Vec::with_capacity(dir.len() + 1 + name.len());
        candidate.extend_from_slice(dir);
        candidate.push(b'/');
        candidate.extend_from_slice(name.as_bytes());
        check_executable(&candidate).ok().map(|()| candidate)
    })
}

/// ENOENT when missing, EACCES for a directory or a file without any execute bit.
fn check_executable(path: &[u8]) -> Result<(), Errno> {
    let st = stat::stat(OsStr::from_bytes(path))?;
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir || st.st_mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// Signal state the runtime may have changed that would otherwise survive execve: ignored
/// signals stay ignored (Rust's runtime ignores SIGPIPE) and the mask is inherited (signal(7)).
pub(crate) fn reset_signals() -> Result<(), SpawnError> {
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .map_err(|e| SpawnError::setup("reset SIGPIPE", e))?;
    signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| SpawnError::setup("clear the signal mask", e))
}

/// How the container process is exec'd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Through husk-dmz, the sync fd open across its exec.
    Trampoline,
    /// Straight from husk: no executable memfd, or a seccomp filter (installed before this step
    /// when no_new_privs is off) refused keeping the sync fd open.
    Direct,
}

/// Marks every fd from `first` up close-on-exec (close_range(2) CLOSE_RANGE_CLOEXEC): no runtime
/// fd reaches the container; fds 0-2 and the preserved ones stay. The sync fd stays open across
/// the trampoline's exec, which closes it before the container's.
pub(crate) fn close_fds_on_exec(
    first: u32,
    executable: &Executable,
    sync: BorrowedFd<'_>,
) -> Result<Route, SpawnError> {
    // The raw syscall: musl has no close_range wrapper.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags; no fd is closed under us.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret != 0 {
        return Err(SpawnError::setup("close_range CLOEXEC", Errno::last()));
    }
    if executable.dmz.is_some() && fcntl(sync, FcntlArg::F_SETFD(FdFlag::empty())).is_ok() {
        return Ok(Route::Trampoline);
    }
    Ok(Route::Direct)
}

/// execve(2), through the trampoline on that route; returns only on failure. If the trampoline
/// itself cannot start (a seccomp profile without execveat), the container's execve is direct.
pub(crate) fn exec(executable: &Executable, route: Route, sync: BorrowedFd<'_>) -> SpawnError {
    if let (Route::Trampoline, Some(trampoline)) = (route, &executable.dmz) {
        let _ = trampoline.exec(sync, &executable.path, &executable.argv, &executable.envp);
        // The sync fd must not reach the container: the runtime would wait for its EOF.
        if let Err(e) = fcntl(sync, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
            return SpawnError::setup("make the sync fd close-on-exec again", e);
        }
    }
    match unistd::execve(&executable.path, &executable.argv, &executable.envp) {
        Ok(never) => match never {},
        Err(err) => SpawnError::new(Phase::Exec, executable.step.clone(), err),
    }
}
