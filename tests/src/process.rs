//! Running a command with its stdout and stderr captured in files, with a timeout.
//!
//! Files, not pipes: a container started by `husk create` inherits husk's stdout and stderr and
//! would hold a pipe's write end open long after husk exits. The files stay readable afterwards, so
//! [`Output::stdout_now`] also sees what the container printed later.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::wait::WaitStatus;

use crate::reaper;

/// How a command ended and what it printed.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub argv: String,
    pub status: WaitStatus,
    pub stdout: String,
    pub stderr: String,
    stdout_file: File,
}

impl Output {
    /// The exit code, None when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        match self.status {
            WaitStatus::Exited(_, code) => Some(code),
            _ => None,
        }
    }

    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }

    /// Everything written to the command's stdout so far, including by processes (a container)
    /// that inherited it and are still running or ended after the command.
    pub fn stdout_now(&self) -> String {
        read_all(&self.stdout_file)
    }

    /// Panics unless the command exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "expected success from {}", self.describe());
        self
    }

    /// Panics unless the command exited non-zero with `message` in its stderr.
    pub fn assert_fails_with(&self, message: &str) -> &Self {
        assert!(
            self.code().is_some_and(|c| c != 0),
            "expected a non-zero exit (with {message:?}) from {}",
            self.describe()
        );
        assert!(
            self.stderr.contains(message),
            "expected {message:?} in stderr of {}",
            self.describe()
        );
        self
    }

    /// The command, its status and its output, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}`: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.argv,
            self.status,
            self.stdout_now(),
            self.stderr
        )
    }
}

fn read_all(file: &File) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // pread: the offset of the shared open file description is left to the writers.
        match file.read_at(&mut chunk, buf.len() as u64) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read captured output: {e}"),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr captured; SIGKILLs it and panics when it
/// has not ended within `timeout`.
pub fn run_captured(cmd: &mut Command, timeout: Duration) -> Output {
    let argv = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let stdout_file = tempfile::tempfile().expect("create a temp file for stdout");
    let stderr_file = tempfile::tempfile().expect("create a temp file for stderr");
    cmd.stdin(Stdio::null())
        .stdout(stdout_file.try_clone().expect("dup stdout file"))
        .stderr(stderr_file.try_clone().expect("dup stderr file"));
    let pid = reaper::spawn(cmd).unwrap_or_else(|e| panic!("spawn `{argv}`: {e}"));
    let status = match reaper::wait_exit(pid, timeout) {
        Some(status) => status,
        None => {
            let status = reaper::kill_and_reap(pid);
            panic!(
                "`{argv}` did not end within {timeout:?} (killed: {status:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                read_all(&stdout_file),
                read_all(&stderr_file)
            );
        }
    };
    Output {
        argv,
        status,
        stdout: read_all(&stdout_file),
        stderr: read_all(&stderr_file),
        stdout_file,
    }
}
