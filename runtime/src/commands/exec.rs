//! `exec ID COMMAND...` and `exec -p process.json ID`: a new process in a running container
//! (runc exec). The process joins the init's namespaces and the container's cgroup (or a
//! `--cgroup` sub-cgroup) and gets the container's seccomp filter. Detached, husk returns once it
//! has exec'd; in the foreground husk forwards signals, proxies the pty it owns and exits with the
//! process's status. Every failure exits 255 with `exec failed: <why>` (runc's convention, which
//! crun adopted), and never touches the running container.
//!
//! config.json is read again from the bundle, as runc does for the command-line form: it holds the
//! seccomp profile and the defaults of the process. Measured (release build): 32 µs for a 3 KB
//! config, 147 µs for a 17 KB one with podman's seccomp profile compiled, of an exec that costs
//! 3-4 ms; a compiled-filter cache in the state directory would save at most that.
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use husk_cgroup::{Cgroup, Hierarchy};
use husk_oci::{Bundle, ContainerStatus};
use husk_spawn::{ExecRequest, SeccompStep};
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process, Spec};
use serde::Deserialize;

use super::create::{console, Mode};
use super::Context;
use crate::cli::ExecArgs;
use crate::container::Record;
use crate::foreground;
use crate::seccomp::Seccomp;
use crate::store::write_atomically;

/// runc's exit status for a failed exec (distinct from the process's own statuses 0-128+N).
const EXIT_EXEC_FAILED: i32 = 255;

pub fn run(ctx: &Context, args: &ExecArgs) -> Result<i32> {
    match exec(ctx, args) {
        Ok(code) => Ok(code),
        Err(err) => {
            ctx.log
                .error(&format!("exec failed: {}", crate::error_message(&err)));
            Ok(EXIT_EXEC_FAILED)
        }
    }
}

fn exec(ctx: &Context, args: &ExecArgs) -> Result<i32> {
    refuse_lsm_flags(args)?;
    if args.process.is_none() && args.command.is_empty() {
        bail!("process args cannot be empty");
    }
    let dir = ctx.dir(&args.id)?;
    let record = dir.read_record()?;
    // The pidfd first, then the status check (which compares the start time with the record's):
    // a pidfd that passed it is the init's, whatever later happens to its pid.
    let init_pidfd =
        pidfd_open(record.pid).map_err(|_| anyhow!("cannot exec in a stopped container"))?;
    match record.status(&dir) {
        ContainerStatus::Stopped => bail!("cannot exec in a stopped container"),
        ContainerStatus::Paused if !args.ignore_paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        _ => {}
    }
    let bundle = Bundle::load(&record.bundle)?;
    let process = process(args, &bundle.spec)?;
    let console = console(
        process.terminal().unwrap_or(false),
        args.console_socket.as_deref(),
        Mode::Run {
            detach: args.detach,
        },
    )?;
    let cgroup = cgroup(&record, &args.cgroup)?;
    let cgroup_fd = cgroup.fd()?;
    let seccomp = Seccomp::of_spec(&bundle.spec)?;
    let install_seccomp = seccomp.as_ref().map(|s| move || s.install());
    let mut seccomp_listener: Option<OwnedFd> = None;
    let mut keep_seccomp_listener = |fd: OwnedFd| -> Result<(), String> {
        seccomp_listener = Some(fd);
        Ok(())
    };
    let request = ExecRequest {
        process: &process,
        init_pid: record.pid,
        init_pidfd: init_pidfd.as_fd(),
        cgroup_fd: Some(cgroup_fd.as_raw_fd()),
        console,
        preserve_fds: args.preserve_fds,
        seccomp: install_seccomp.as_ref().map(|f| f as SeccompStep),
        seccomp_profile: bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref()),
        on_seccomp_listener: if seccomp.as_ref().is_some_and(Seccomp::wants_listener) {
            Some(&mut keep_seccomp_listener)
        } else {
            None
        },
    };
    let mut spawned = husk_spawn::exec(request).map_err(|err| anyhow!("{err}"))?;
    ctx.log.debug(|| format!("exec pid {}", spawned.pid));
    if let (Some(seccomp), Some(listener)) = (&seccomp, &seccomp_listener) {
        seccomp.send_listener(listener, &record.state(ContainerStatus::Running))?;
    }
    if let Some(pid_file) = &args.pid_file {
        write_atomically(pid_file, spawned.pid.to_string().as_bytes())?;
    }
    if args.detach {
        return Ok(0);
    }
    foreground::wait(
        spawned.pid,
        spawned.pidfd.as_fd(),
        spawned.pty_master.take(),
    )
}

/// features.json says apparmor and selinux are disabled: an explicit request is refused rather
/// than silently not applied. (The same fields in config.json or process.json are ignored, as
/// `create` ignores them: engines copy them into every exec's process.json.)
fn refuse_lsm_flags(args: &ExecArgs) -> Result<()> {
    if args.apparmor.is_some() {
        bail!("--apparmor: husk does not support AppArmor");
    }
    if args.process_label.is_some() {
        bail!("--process-label: husk does not support SELinux");
    }
    Ok(())
}

/// The process to run: process.json as given (capabilities and rlimits default to the
/// container's, as in runc), or the container's process with the command line's changes.
fn process(args: &ExecArgs, spec: &Spec) -> Result<Process> {
    let config = spec.process().as_ref().context("config.json: no process")?;
    let process = match &args.process {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            let mut process: Process = serde_json::from_slice(&text)
                .with_context(|| format!("parse {}", path.display()))?;
            if process.capabilities().is_none() {
                process.set_capabilities(config.capabilities().clone());
            }
            if process.rlimits().is_none() {
                process.set_rlimits(config.rlimits().clone());
            }
            process
        }
        None => from_flags(args, config)?,
    };
    if process.args().as_ref().is_none_or(Vec::is_empty) {
        bail!("process.args must not be empty");
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd {:?} is not an absolute path", process.cwd());
    }
    Ok(process)
}

/// runc's exec flags applied to the container's process (runc exec.go getProcess).
fn from_flags(args: &ExecArgs, config: &Process) -> Result<Process> {
    let mut process = config.clone();
    process.set_args(Some(args.command.clone()));
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    process
        .env_mut()
        .get_or_insert_with(Vec::new)
        .extend(args.env.iter().cloned());
    process.set_terminal(Some(args.tty));
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !args.cap.is_empty() {
        process.set_capabilities(Some(add_capabilities(
            process.capabilities().clone().unwrap_or_default(),
            &args.cap,
        )?));
    }
    if let Some(user) = &args.user {
        let (uid, gid) = match user.split_once(':') {
            Some((uid, gid)) => (uid, Some(gid)),
            None => (user.as_str(), None),
        };
        let user = process.user_mut();
        user.set_uid(
            uid.parse()
                .map_err(|_| anyhow!("parsing {uid} as int for uid failed"))?,
        );
        if let Some(gid) = gid {
            user.set_gid(
                gid.parse()
                    .map_err(|_| anyhow!("parsing {gid} as int for gid failed"))?,
            );
        }
    }
    if !args.additional_gids.is_empty() {
        process
            .user_mut()
            .additional_gids_mut()
            .get_or_insert_with(Vec::new)
            .extend(&args.additional_gids);
    }
    Ok(process)
}

/// `--cap`: added to the bounding, effective, permitted and ambient sets (runc).
fn add_capabilities(mut caps: LinuxCapabilities, names: &[String]) -> Result<LinuxCapabilities> {
    let mut added = Capabilities::new();
    for name in names {
        let cap = Capability::deserialize(serde_json::Value::from(name.as_str()))
            .map_err(|_| anyhow!("--cap: unknown capability {name}"))?;
        added.insert(cap);
    }
    let with = |set: &Option<Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(added.iter().copied());
        Some(set)
    };
    caps.set_bounding(with(caps.bounding()));
    caps.set_effective(with(caps.effective()));
    caps.set_permitted(with(caps.permitted()));
    caps.set_ambient(with(caps.ambient()));
    Ok(caps)
}

/// The container's cgroup, or the sub-cgroup `--cgroup` names. cgroup v2 has one hierarchy, so
/// every `[controllers:]path` given must name the same path.
fn cgroup(record: &Record, requested: &[String]) -> Result<Cgroup> {
    let mut path = record.cgroup_path.clone();
    if let Some(sub) = sub_cgroup(requested)? {
        path.push(sub);
    }
    Ok(Cgroup::open(&Hierarchy::detect()?, &path))
}

fn sub_cgroup(requested: &[String]) -> Result<Option<PathBuf>> {
    let mut chosen: Option<&str> = None;
    for arg in requested {
        let path = arg.split_once(':').map_or(arg.as_str(), |(_, path)| path);
        match chosen {
            Some(earlier) if earlier != path => {
                bail!("invalid --cgroup argument: {arg} (cgroup v2 has a single path)")
            }
            _ => chosen = Some(path),
        }
    }
    let Some(path) = chosen else {
        return Ok(None);
    };
    let sub = Path::new(path.trim_start_matches('/'));
    let inside = sub.components().all(|c| matches!(c, Component::Normal(_)));
    if !inside || sub.as_os_str().is_empty() {
        bail!("invalid --cgroup argument: {path} (not a sub-cgroup of the container)");
    }
    Ok(Some(sub.to_path_buf()))
}

fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags, no pointers.
    let fd = Errno::result(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new fd (close-on-exec) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn exec_args(line: &str) -> ExecArgs {
        let cli = crate::cli::Cli::try_parse_from(line.split_whitespace()).unwrap();
        match cli.command {
            Some(crate::cli::Command::Exec(args)) => *args,
            other => panic!("not exec: {other:?}"),
        }
    }

    fn config() -> Process {
        serde_json::from_value(serde_json::json!({
            "user": {"uid": 0, "gid": 0},
            "args": ["sleep", "100"],
            "env": ["PATH=/bin", "A=1"],
            "cwd": "/",
            "terminal": true,
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"]}
        }))
        .unwrap()
    }

    #[test]
    fn the_command_follows_the_id_with_its_own_flags() {
        let args = exec_args("husk --root /r exec -d --pid-file /p c1 sh -c echo -t");
        assert_eq!(args.id, "c1");
        assert_eq!(args.command, ["sh", "-c", "echo", "-t"]);
        assert!(args.detach && !args.tty);
        assert_eq!(args.pid_file.as_deref(), Some(Path::new("/p")));
        // containerd and conmon: every flag before the id.
        let args = exec_args(
            "husk --root /r exec --process /t/p.json --detach --pid-file /b/x.pid \
             --console-socket /t/pty.sock c1",
        );
        assert_eq!(args.process.as_deref(), Some(Path::new("/t/p.json")));
        assert!(args.command.is_empty());
    }

    #[test]
    fn flags_change_the_container_process_like_runc() {
        let args = exec_args(
            "husk exec --cwd /tmp -e B=2 -u 1000:1001 -g 10,20 --cap CAP_CHOWN \
             --no-new-privs c1 id -u",
        );
        let process = from_flags(&args, &config()).unwrap();
        assert_eq!(process.args().as_deref().unwrap(), ["id", "-u"]);
        assert_eq!(process.cwd(), Path::new("/tmp"));
        assert_eq!(
            process.env().as_deref().unwrap(),
            ["PATH=/bin", "A=1", "B=2"]
        );
        assert_eq!((process.user().uid(), process.user().gid()), (1000, 1001));
        assert_eq!(
            process.user().additional_gids().as_deref(),
            Some(&[10, 20][..])
        );
        // No -t: no terminal, whatever the container's process has.
        assert_eq!(process.terminal(), Some(false));
        assert_eq!(process.no_new_privileges(), Some(true));
        let caps = process.capabilities().as_ref().unwrap();
        let both: Capabilities = [Capability::Kill, Capability::Chown].into_iter().collect();
        assert_eq!(caps.bounding().as_ref(), Some(&both));
        assert_eq!(
            caps.ambient().as_ref(),
            Some(&[Capability::Chown].into_iter().collect())
        );
        let err = from_flags(&exec_args("husk exec -u x c1 id"), &config()).unwrap_err();
        assert_eq!(err.to_string(), "parsing x as int for uid failed");
    }

    #[test]
    fn sub_cgroups_stay_inside_the_container() {
        let one = |a: &[&str]| sub_cgroup(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(one(&[]).unwrap(), None);
        assert_eq!(one(&["sub"]).unwrap(), Some(PathBuf::from("sub")));
        assert_eq!(one(&["/a/b"]).unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(
            one(&["cpu,memory:x", "pids:x"]).unwrap(),
            Some(PathBuf::from("x"))
        );
        assert!(one(&["cpu:x", "pids:y"]).is_err());
        assert!(one(&["../escape"]).is_err());
        assert!(one(&["/"]).is_err());
    }
}
