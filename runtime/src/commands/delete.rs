//! `delete`: remove a stopped container (with `--force` or when only created: kill it first):
//! its cgroup, poststop hooks, its state directory.
use anyhow::{bail, Result};
use husk_oci::ContainerStatus;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Context;
use crate::cli::DeleteArgs;
use crate::container::Record;
use crate::hooks;
use crate::store::ContainerDir;

pub fn run(ctx: &Context, args: &DeleteArgs) -> Result<i32> {
    husk_oci::validate_container_id(&args.id)?;
    let Some(dir) = ctx.store.open(&args.id) else {
        // runc: `delete --force` of a missing container succeeds.
        if args.force {
            return Ok(0);
        }
        bail!("container does not exist");
    };
    let _lock = dir.lock()?;
    let record = match dir.read_record() {
        Ok(record) => record,
        // A directory without a record was left by a create that died before writing it.
        Err(_) if args.force => {
            dir.remove()?;
            return Ok(0);
        }
        Err(err) => return Err(err),
    };
    match record.status(&dir) {
        ContainerStatus::Stopped => {}
        // runc deletes a created container without --force: it never ran.
        ContainerStatus::Created | ContainerStatus::Creating => kill_init(&record),
        ContainerStatus::Running | ContainerStatus::Paused if args.force => kill_init(&record),
        ContainerStatus::Running | ContainerStatus::Paused => bail!("container still running"),
    }
    destroy(ctx, &dir, &record)?;
    Ok(0)
}

fn kill_init(record: &Record) {
    // ESRCH: it just exited; the cgroup removal below waits for everything else.
    let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
}

/// Removes a container whose init is dead or dying: the cgroup (killing what is left in it and
/// waiting until it is empty), poststop hooks (failures are warnings, config.md "poststop"), and the
/// state directory.
pub fn destroy(ctx: &Context, dir: &ContainerDir, record: &Record) -> Result<()> {
    record.cgroup()?.destroy()?;
    if record.qos.as_ref().is_some_and(|q| q.protects_memory) {
        // The cgroup is gone already: a failure here must not keep the container alive.
        if let Err(err) = super::qos::forget(ctx, &record.cgroup_path) {
            ctx.log.warn(&format!("{err:#}"));
        }
    }
    if let Err(err) = hooks::run_all(
        "poststop",
        &record.poststop,
        &record.state(ContainerStatus::Stopped),
    ) {
        ctx.log.warn(&format!("{err:#}"));
    }
    dir.remove()
}
