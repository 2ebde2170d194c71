//! `list`: runc's table (`ID PID STATUS BUNDLE CREATED OWNER`), `--format json` or `--quiet`.
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use anyhow::Result;
use husk_oci::State;
use nix::unistd::{Uid, User};

use super::Context;
use crate::cli::{ListArgs, ListFormat};

pub fn run(ctx: &Context, args: &ListArgs) -> Result<i32> {
    let mut states = Vec::new();
    for id in ctx.store.ids()? {
        // A container deleted or still being created while listing is skipped.
        let Some(dir) = ctx.store.open(&id) else {
            continue;
        };
        let Ok(record) = dir.read_record() else {
            continue;
        };
        let mut state = record.state(record.status(&dir));
        let uid = std::fs::metadata(dir.path()).map(|m| m.uid()).unwrap_or(0);
        state.owner = user_name(uid);
        states.push(state);
    }
    let out = if args.quiet {
        states.iter().map(|s| format!("{}\n", s.id)).collect()
    } else {
        match args.format {
            ListFormat::Table => table(&states),
            ListFormat::Json => json(&states),
        }
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(0)
}

/// runc: the name from the user database, else `#<uid>`.
fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("#{uid}"),
    }
}

/// runc's `json.NewEncoder(os.Stdout).Encode(s)`: compact, newline, `null` when empty.
fn json(states: &[State]) -> String {
    let mut out = if states.is_empty() {
        "null".to_string()
    } else {
        serde_json::to_string(states).expect("states serialize")
    };
    out.push('\n');
    out
}

/// runc's `tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)`: every column but the last is as wide
/// as its widest cell plus 3, and at least 12.
fn table(states: &[State]) -> String {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(states.iter().map(|s| {
            [
                s.id.clone(),
                s.pid.to_string(),
                s.status.as_str().to_string(),
                s.bundle.display().to_string(),
                s.created.clone(),
                s.owner.clone(),
            ]
        }))
        .collect();
    let mut widths = [0usize; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count() + 3).max(12);
        }
    }
    let mut out = String::new();
    for row in &rows {
        for (cell, width) in row.iter().zip(widths) {
            out.push_str(&format!("{cell:<width$}"));
        }
        out.push_str(&row[5]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use husk_oci::ContainerStatus;

    fn state(id: &str, pid: i32, status: ContainerStatus) -> State {
        State {
            oci_version: "1.0.2-dev".into(),
            id: id.into(),
            pid,
            status,
            bundle: "/tmp/bundle".into(),
            rootfs: "/tmp/bundle/rootfs".into(),
            created: "2026-12-04T15:15:01.123456789Z".into(),
            annotations: Default::default(),
            owner: "root".into(),
        }
    }

    #[test]
    fn table_matches_go_tabwriter() {
        let out = table(&[
            state("c1", 4422, ContainerStatus::Running),
            state("c2", 0, ContainerStatus::Stopped),
        ]);
        let expected = "\
ID          PID         STATUS      BUNDLE        CREATED                          OWNER
c1          4422        running     /tmp/bundle   2026-12-04T15:15:01.123456789Z   root
c2          0           stopped     /tmp/bundle   2026-12-04T15:15:01.123456789Z   root
";
        assert_eq!(out, expected);
        assert_eq!(
            table(&[]),
            "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
        );
    }

    #[test]
    fn json_is_null_when_empty_like_runc() {
        assert_eq!(json(&[]), "null\n");
        let out = json(&[state("c1", 1, ContainerStatus::Created)]);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed[0]["status"], "created");
        assert_eq!(parsed[0]["owner"], "root");
        assert!(out.ends_with("}]\n"));
    }

    #[test]
    fn owner_names_come_from_the_user_database() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "#4000000000");
    }
}
