//! `kill ID [SIGNAL]`: signal the init, or with `--all` every process in the container's cgroup.
use anyhow::{anyhow, bail, Result};
use husk_oci::ContainerStatus;
use nix::unistd::Pid;

use super::Context;
use crate::cli::KillArgs;
use crate::signal::parse_signal;

pub fn run(ctx: &Context, args: &KillArgs) -> Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let record = dir.read_record()?;
    if record.status(&dir) == ContainerStatus::Stopped {
        bail!("container not running");
    }
    if args.all {
        record.cgroup()?.kill_all(signal as i32)?;
    } else {
        // containerd classifies "no such process" (ESRCH) as the container being gone.
        nix::sys::signal::kill(Pid::from_raw(record.pid), signal).map_err(|errno| {
            anyhow!(
                "kill {}: {}",
                record.pid,
                husk_spawn::error::errno_text(errno)
            )
        })?;
    }
    Ok(0)
}
