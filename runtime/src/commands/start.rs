//! `start`: release a created container's init through `start.sock`, then run poststart hooks.
use anyhow::{anyhow, bail, Result};
use husk_oci::ContainerStatus;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Context;
use crate::cli::IdArg;
use crate::hooks;

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
    let released = husk_spawn::release(&start_socket);
    // Whatever the outcome, the init no longer waits: the socket's existence means "created".
    let _ = std::fs::remove_file(&start_socket);
    released.map_err(|err| anyhow!("start: {err}"))?;
    let state = record.state(ContainerStatus::Running);
    if let Err(err) = hooks::run_all("poststart", &record.poststart, &state) {
        // runc terminates a container whose poststart hook failed; `delete` cleans up.
        let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
        return Err(err.into());
    }
    Ok(0)
}
