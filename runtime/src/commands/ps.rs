//! `ps ID [PS_ARGS...]`: the container's processes. `-f json` prints runc's flat array of host pids
//! (`[4422,4430]` + newline, go-runc's `Ps`); the table runs the host's ps(1) (default `-ef`) and
//! keeps its header and the rows of the container's pids (runc ps.go).
use std::io::Write;
use std::process::Command;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::cli::{ListFormat, PsArgs};

pub fn run(ctx: &Context, args: &PsArgs) -> Result<i32> {
    let dir = ctx.dir(&args.id)?;
    let record = dir.read_record()?;
    let pids = record.cgroup()?.all_pids()?;
    let out = match args.format {
        // runc ignores ps arguments with the json format.
        ListFormat::Json => {
            let mut out = serde_json::to_string(&pids)?;
            out.push('\n');
            out
        }
        ListFormat::Table => table(&pids, &args.ps_args)?,
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(0)
}

fn table(pids: &[i32], ps_args: &[String]) -> Result<String> {
    let default_args = ["-ef".to_owned()];
    let ps_args = if ps_args.is_empty() {
        &default_args[..]
    } else {
        ps_args
    };
    let output = Command::new("ps")
        .args(ps_args)
        .output()
        .context("run ps")?;
    if !output.status.success() {
        bail!(
            "ps {}: {}: {}",
            ps_args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    filter_rows(&String::from_utf8_lossy(&output.stdout), pids)
}

/// The header and the rows whose PID column holds one of `pids`.
fn filter_rows(ps_output: &str, pids: &[i32]) -> Result<String> {
    let mut lines = ps_output.lines();
    let header = lines.next().context("ps printed nothing")?;
    let pid_column = header
        .split_whitespace()
        .position(|name| name == "PID")
        .context("ps output has no PID column")?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|pid| pids.contains(&pid)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_header_and_the_container_rows() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                  root        4422       1  0 10:01 ?        00:00:00 sleep 100\n\
                  root        4430    4422  0 10:01 ?        00:00:00 sh\n";
        let out = filter_rows(ps, &[4422, 4430]).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("UID"));
        assert!(lines[1].contains("sleep 100"));
        assert!(lines[2].ends_with(" sh"));
        assert!(filter_rows("USER COMMAND\n", &[1]).is_err());
    }
}
