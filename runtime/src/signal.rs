//! Signal names as runc's `kill` takes them (`utils.go parseSignal`): a number, a name, or a
//! SIG-prefixed name, in any case.
use anyhow::{bail, Result};
use nix::sys::signal::Signal;

pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| anyhow::anyhow!("unknown signal {text:?}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    match Signal::iterator().find(|sig| &sig.as_str()[3..] == name) {
        Some(sig) => Ok(sig),
        None => bail!("unknown signal {text:?}"),
    }
}

/// The exit status a shell reports for a process: its code, or 128 + the signal that killed it.
pub fn exit_code(status: nix::sys::wait::WaitStatus) -> Option<i32> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
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
            ("9", Signal::SIGKILL),
            ("15", Signal::SIGTERM),
            ("KILL", Signal::SIGKILL),
            ("kill", Signal::SIGKILL),
            ("SIGKILL", Signal::SIGKILL),
            ("sigterm", Signal::SIGTERM),
            ("SigHup", Signal::SIGHUP),
            ("USR1", Signal::SIGUSR1),
            ("SIGWINCH", Signal::SIGWINCH),
            ("1", Signal::SIGHUP),
        ];
        for (text, expected) in table {
            assert_eq!(parse_signal(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn rejects_unknown_signals() {
        for bad in ["0", "-1", "999", "", "SIG", "FOO", "SIGFOO", "KILLX"] {
            let err = parse_signal(bad).unwrap_err().to_string();
            assert_eq!(err, format!("unknown signal {bad:?}"));
        }
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
