//! Signals as runc's `kill` takes them (`utils.go parseSignal`): a number, a name, or a
//! SIG-prefixed name, in any case. Signals are raw numbers because nix's `Signal` cannot name the
//! real-time ones, which engines send by number (systemd's stop signal is SIGRTMIN+3).
use anyhow::{bail, Result};
use nix::errno::Errno;
use nix::sys::signal::Signal;

pub fn parse_signal(text: &str) -> Result<i32> {
    if let Ok(number) = text.parse::<i32>() {
        if (1..=libc::SIGRTMAX()).contains(&number) {
            return Ok(number);
        }
        bail!("unknown signal {text:?}");
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    match Signal::iterator().find(|sig| &sig.as_str()[3..] == name) {
        Some(sig) => Ok(sig as i32),
        None => bail!("unknown signal {text:?}"),
    }
}

/// kill(2) with a raw signal number.
pub fn send(pid: i32, signal: i32) -> nix::Result<()> {
    // SAFETY: kill(2) takes two integers and reads or writes no memory of this process.
    Errno::result(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// The exit status a shell reports for a process: its code, or 128 + the signal that killed it.
pub fn exit_code(status: nix::sys::wait::WaitStatus) -> Option<i32> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::WaitStatus;
    use nix::unistd::Pid;

    #[test]
    fn parses_numbers_names_and_prefixed_names_in_any_case() {
        let table = [
            ("9", Signal::SIGKILL as i32),
            ("15", Signal::SIGTERM as i32),
            ("KILL", Signal::SIGKILL as i32),
            ("kill", Signal::SIGKILL as i32),
            ("SIGKILL", Signal::SIGKILL as i32),
            ("sigterm", Signal::SIGTERM as i32),
            ("SigHup", Signal::SIGHUP as i32),
            ("USR1", Signal::SIGUSR1 as i32),
            ("SIGWINCH", Signal::SIGWINCH as i32),
            ("1", Signal::SIGHUP as i32),
            // SIGRTMIN+3 (systemd's stop signal), by number.
            ("37", libc::SIGRTMIN() + 3),
            ("64", libc::SIGRTMAX()),
        ];
        for (text, expected) in table {
            assert_eq!(parse_signal(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn rejects_unknown_signals() {
        for bad in ["0", "-1", "65", "999", "", "SIG", "FOO", "SIGFOO", "KILLX"] {
            let err = parse_signal(bad).unwrap_err().to_string();
            assert_eq!(err, format!("unknown signal {bad:?}"));
        }
    }

    #[test]
    fn sends_real_time_signals() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        send(child.id() as i32, libc::SIGRTMIN() + 3).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGRTMIN() + 3));
        assert_eq!(send(i32::MAX, libc::SIGTERM), Err(Errno::ESRCH));
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        let pid = Pid::from_raw(1);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }
}
