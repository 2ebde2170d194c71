//! `kill ID [SIGNAL]`: signal the init, or with `--all` every process in the container's cgroup.
use anyhow::{anyhow, bail, Result};
use husk_oci::ContainerStatus;

use super::Context;
use crate::cli::KillArgs;
use crate::signal::{self, parse_signal};

pub fn run(ctx: &Context, args: &KillArgs) -> Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let record = dir.read_record()?;
    if args.all {
        // runc signals what is left in the cgroup even once the init is gone (the shim's cleanup
        // `kill --all <id> 9` of a container without its own pid namespace).
        let cgroup = record.cgroup()?;
        if cgroup.dir().exists() {
            cgroup.kill_all(signal)?;
        }
        return Ok(0);
    }
    if record.status(&dir) == ContainerStatus::Stopped {
        bail!("container not running");
    }
    // containerd classifies "no such process" (ESRCH) as the container being gone.
    signal::send(record.pid, signal).map_err(|errno| {
        anyhow!(
            "kill {}: {}",
            record.pid,
            husk_spawn::error::errno_text(errno)
        )
    })?;
    Ok(0)
}
