//! `run`: create + start in one go. Detached, husk returns once the process has exec'd; in the
//! foreground it forwards signals (and proxies the pty it owns), returns the init's exit status and
//! deletes the container unless `--keep`.
use std::os::fd::AsFd;

use anyhow::Result;
use husk_oci::ContainerStatus;

use super::create::{launch, Mode};
use super::delete::destroy;
use super::Context;
use crate::cli::RunArgs;
use crate::foreground;
use crate::hooks;

pub fn run(ctx: &Context, args: &RunArgs) -> Result<i32> {
    // Returns once the init has exec'd.
    let launched = launch(
        ctx,
        &args.create,
        Mode::Run {
            detach: args.detach,
        },
    )?;
    hooks::run_all(
        "poststart",
        &launched.record.poststart,
        &launched.record.state(ContainerStatus::Running),
    )?;
    let (dir, mut spawned, record) = launched.commit();
    if args.detach {
        return Ok(0);
    }
    let code = foreground::wait(
        spawned.pid,
        spawned.pidfd.as_fd(),
        spawned.pty_master.take(),
    )?;
    if !args.keep {
        destroy(ctx, &dir, &record)?;
    }
    Ok(code)
}
