//! `state`: runc's state JSON (runtime-contract §1.5.1), pretty-printed, no trailing newline.
use std::io::Write;

use anyhow::Result;

use super::Context;
use crate::cli::IdArg;

pub fn run(ctx: &Context, args: &IdArg) -> Result<i32> {
    let dir = ctx.dir(&args.id)?;
    let record = dir.read_record()?;
    let state = record.state(record.status(&dir));
    std::io::stdout().write_all(state.to_pretty_json().as_bytes())?;
    Ok(0)
}
