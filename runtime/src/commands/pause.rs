//! `pause ID`: freeze every process of the container (cgroup.freeze, waiting for `frozen 1`).
use anyhow::{bail, Result};
use husk_oci::ContainerStatus;

use super::Context;
use crate::cli::IdArg;

pub fn run(ctx: &Context, args: &IdArg) -> Result<i32> {
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let record = dir.read_record()?;
    // runc (libcontainer Pause): only a running or created container can be paused.
    match record.status(&dir) {
        ContainerStatus::Running | ContainerStatus::Created => {}
        _ => bail!("container not running"),
    }
    record.cgroup()?.freeze()?;
    Ok(0)
}
