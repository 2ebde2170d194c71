//! `run` without `--detach`: forward signals to the container init, proxy its pty when husk owns
//! it, and return its exit status once it is reaped.
//!
//! Signals are blocked and read from a signalfd only after the init exists (the init inherits the
//! signal mask across clone, so blocking earlier would leave it with every signal blocked); until
//! then they get their default action. The init's exit is seen on its pidfd (readable once it
//! exits, pidfd_open(2)), not through SIGCHLD, which can be lost before the mask is in place.
use std::io::stdin;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use anyhow::{Context as _, Result};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

use crate::signal::{self, exit_code};
use crate::tty::TtyProxy;

/// Waits for `pid` (a child of husk, `pidfd` its pidfd), returns its exit code (128 + N when killed
/// by signal N).
pub fn wait(pid: i32, pidfd: BorrowedFd<'_>, pty_master: Option<OwnedFd>) -> Result<i32> {
    let all = SigSet::all();
    let previous = all
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .context("block signals")?;
    let _restore = RestoreMask(previous);
    // Non-blocking: poll may report a process-directed signal that another thread then takes.
    let signals = SignalFd::with_flags(&all, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    let mut tty = pty_master.map(TtyProxy::new).transpose()?;
    let pid = Pid::from_raw(pid);

    let mut code = try_reap(pid)?;
    while code.is_none() {
        let mut fds = vec![
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd, PollFlags::POLLIN),
        ];
        let stdin = stdin();
        if let Some(tty) = &tty {
            if tty.master_open() {
                fds.push(PollFd::new(tty.master(), PollFlags::POLLIN));
            }
            if tty.stdin_open() {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            result => result.context("poll")?,
        };
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(false)).collect();
        drop(fds);
        if let Some(tty) = tty.as_mut() {
            let mut next = 2;
            if tty.master_open() {
                if ready[next] {
                    tty.pump_master()?;
                }
                next += 1;
            }
            if ready.get(next).copied().unwrap_or(false) {
                tty.pump_stdin()?;
            }
        }
        if ready[0] {
            handle_signal(&signals, pid, tty.as_ref())?;
        }
        if ready[1] {
            code = try_reap(pid)?;
        }
    }
    if let Some(tty) = tty.as_mut() {
        tty.drain()?;
    }
    Ok(code.expect("loop ends with a code"))
}

/// Forwards one pending signal to the init (runc signals.go: all but SIGCHLD, and SIGWINCH when
/// husk owns the pty, which resizes it instead).
fn handle_signal(signals: &SignalFd, pid: Pid, tty: Option<&TtyProxy>) -> Result<()> {
    let Some(info) = signals.read_signal().context("read signalfd")? else {
        return Ok(());
    };
    let signal = info.ssi_signo as i32;
    match (signal, tty) {
        (libc::SIGCHLD, _) => {}
        (libc::SIGWINCH, Some(tty)) => tty.resize(),
        // ESRCH: the init is exiting; its pidfd turns readable next.
        _ => {
            let _ = signal::send(pid.as_raw(), signal);
        }
    }
    Ok(())
}

/// The exit code when `pid` has exited (reaping it), None while it runs.
fn try_reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => return Ok(exit_code(status)),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno).context("wait for the container init"),
        }
    }
}

/// Restores the signal mask husk had before [`wait`].
struct RestoreMask(SigSet);

impl Drop for RestoreMask {
    fn drop(&mut self) {
        let _ = self.0.thread_set_mask();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{FromRawFd, RawFd};

    fn pidfd_open(pid: u32) -> OwnedFd {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1; no pointers.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        assert!(fd >= 0, "pidfd_open: {}", Errno::last());
        // SAFETY: the fd was just returned by the kernel and is owned by nothing else.
        unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
    }

    #[test]
    #[allow(clippy::zombie_processes)] // foreground::wait reaps it with waitpid.
    fn returns_the_exit_code_of_a_child() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let pidfd = pidfd_open(child.id());
        assert_eq!(wait(child.id() as i32, pidfd.as_fd(), None).unwrap(), 7);
    }

    #[test]
    #[allow(clippy::zombie_processes)] // foreground::wait reaps it with waitpid.
    fn forwards_signals_and_reports_128_plus_n() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pidfd = pidfd_open(child.id());
        // SAFETY: pthread_self has no preconditions.
        let this_thread = unsafe { libc::pthread_self() };
        // Signal this thread (the one blocking signals; other test threads do not) once it waits.
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            // SAFETY: the target thread is alive: it joins this thread before returning.
            unsafe { libc::pthread_kill(this_thread, libc::SIGTERM) };
        });
        let code = wait(child.id() as i32, pidfd.as_fd(), None).unwrap();
        sender.join().unwrap();
        assert_eq!(code, 128 + libc::SIGTERM);
    }
}
