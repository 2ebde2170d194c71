//! `resume ID`: thaw a paused container (cgroup.freeze 0, waiting for `frozen 0`).
use anyhow::{bail, Result};
use husk_oci::ContainerStatus;

use super::Context;
use crate::cli::IdArg;

pub fn run(ctx: &Context, args: &IdArg) -> Result<i32> {
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let record = dir.read_record()?;
    if record.status(&dir) != ContainerStatus::Paused {
        bail!("container not paused");
    }
    record.cgroup()?.thaw()?;
    Ok(0)
}
