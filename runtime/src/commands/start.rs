//! `start`: release a created container's init through `start.sock`, then run poststart hooks.
use std::os::fd::OwnedFd;

use anyhow::{anyhow, bail, Result};
use husk_oci::{Bundle, ContainerStatus, State};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Context;
use crate::cli::IdArg;
use crate::container::Record;
use crate::hooks;
use crate::seccomp;

pub fn run(ctx: &Context, args: &IdArg) -> Result<i32> {
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let record = dir.read_record()?;
    match record.status(&dir) {
        ContainerStatus::Created => {}
        ContainerStatus::Stopped => bail!("cannot start a container that has stopped"),
        ContainerStatus::Running => bail!("cannot start an already running container"),
        ContainerStatus::Paused => bail!("cannot start a container in the paused state"),
        ContainerStatus::Creating => bail!("cannot start a container that is being created"),
    }
    let start_socket = dir.start_socket();
    let (address, _dir_fd) = dir.start_socket_address()?;
    let released = husk_spawn::release(&address);
    // Whatever the outcome, the init no longer waits: the socket's existence means "created".
    let _ = std::fs::remove_file(&start_socket);
    let seccomp_listener = released.map_err(|err| anyhow!("start: {err}"))?;
    let state = record.state(ContainerStatus::Running);
    if let Some(listener) = seccomp_listener {
        if let Err(err) = forward_seccomp_listener(&record, &listener, &state) {
            let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
            return Err(err);
        }
    }
    if let Err(err) = hooks::run_all("poststart", &record.poststart, &state) {
        // runc terminates a container whose poststart hook failed; `delete` cleans up.
        let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
        return Err(err.into());
    }
    Ok(0)
}

/// With noNewPrivileges the init installs its seccomp filter after the start gate, so its notify
/// listener arrives here: it goes to the agent at `linux.seccomp.listenerPath`. Only this rare
/// case reads config.json again.
fn forward_seccomp_listener(record: &Record, listener: &OwnedFd, state: &State) -> Result<()> {
    let bundle = Bundle::load(&record.bundle)?;
    let profile = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref());
    match profile.and_then(|p| p.listener_path().as_deref()) {
        Some(path) => seccomp::send_listener(
            path,
            listener,
            profile
                .and_then(|p| p.listener_metadata().as_deref())
                .unwrap_or_default(),
            state,
        ),
        None => Ok(()),
    }
}
