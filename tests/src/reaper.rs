//! The test process is a child subreaper (prctl PR_SET_CHILD_SUBREAPER), like containerd's shim and
//! conmon: a container init whose `husk create` exited is re-parented to it. One thread reaps every
//! child (husk invocations and container inits alike) and records how it ended, so nothing stays a
//! zombie (pid 1 of this machine does not reap) and tests can see a container's exit status.
//!
//! Because that thread reaps with waitpid(-1), no other code in the test process may wait for a
//! child itself (`std::process::Command::output`, `Child::wait`): start children with [`spawn`]
//! and wait with [`wait_exit`].

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

struct Exits {
    /// pid -> how it ended, for reaped children nobody has asked about yet.
    ended: Mutex<HashMap<i32, WaitStatus>>,
    changed: Condvar,
}

fn exits() -> &'static Exits {
    static EXITS: OnceLock<Exits> = OnceLock::new();
    EXITS.get_or_init(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("prctl(PR_SET_CHILD_SUBREAPER)");
        std::thread::Builder::new()
            .name("reaper".into())
            .spawn(reap_forever)
            .expect("start the reaper thread");
        Exits {
            ended: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        }
    })
}

fn lock() -> MutexGuard<'static, HashMap<i32, WaitStatus>> {
    exits()
        .ended
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reap_forever() {
    loop {
        // __WALL: also children cloned with an exit signal other than SIGCHLD (wait(2)).
        match waitpid(None, Some(WaitPidFlag::__WALL)) {
            Ok(status @ (WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _))) => {
                lock().insert(pid.as_raw(), status);
                exits().changed.notify_all();
            }
            Ok(_) | Err(Errno::EINTR) => {}
            // No child right now (or an unexpected error): look again shortly.
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Starts `cmd` as a child of the test process and returns its pid.
pub fn spawn(cmd: &mut Command) -> std::io::Result<i32> {
    let mut ended = lock();
    let child = cmd.spawn()?;
    let pid = i32::try_from(child.id()).expect("pid fits i32");
    // A recorded status under this pid belongs to an earlier process that had the same pid. The
    // lock is held, so the reaper cannot have recorded the new child's exit yet.
    ended.remove(&pid);
    Ok(pid)
}

/// Waits up to `timeout` for the child (or re-parented container init) `pid` to end and returns how
/// it ended; None on timeout. Each status is handed out once.
pub fn wait_exit(pid: i32, timeout: Duration) -> Option<WaitStatus> {
    let deadline = Instant::now() + timeout;
    let mut ended = lock();
    loop {
        if let Some(status) = ended.remove(&pid) {
            return Some(status);
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        ended = exits()
            .changed
            .wait_timeout(ended, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// SIGKILLs the unreaped child `pid` and waits for it.
pub(crate) fn kill_and_reap(pid: i32) -> Option<WaitStatus> {
    {
        let mut ended = lock();
        if let Some(status) = ended.remove(&pid) {
            return Some(status);
        }
        // Not recorded, so not reaped or reaped an instant ago (the pid cannot have been reused
        // that fast): the pid is still this child's.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
    wait_exit(pid, Duration::from_secs(10))
}

/// Makes sure the reaper runs; called before the first container is started.
pub(crate) fn start() {
    exits();
}
