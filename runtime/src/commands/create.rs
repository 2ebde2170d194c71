//! `create`, and the part of `run` it shares: bundle -> state directory -> cgroup -> start socket
//! -> spawn -> state.json + pid file. Any failure after the state directory exists undoes
//! everything (kills and reaps the init, removes the cgroup and the directory).
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use husk_cgroup::{Cgroup, Hierarchy};
use husk_oci::{Bundle, ContainerStatus, Timestamp};
use husk_spawn::{Console, SeccompStep, SpawnRequest, Spawned, StartGate};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{
    bind, connect, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Hook;

use super::Context;
use crate::cli::CreateArgs;
use crate::container::Record;
use crate::hooks;
use crate::procfs::ProcStat;
use crate::seccomp_notify;
use crate::store::{write_atomically, ContainerDir, DirLock};

pub fn run(ctx: &Context, args: &CreateArgs) -> Result<i32> {
    let launched = launch(ctx, args, Mode::Create)?;
    launched.commit();
    Ok(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The init waits on `start.sock` until `start`.
    Create,
    /// The init execs right away; `detach` says whether husk returns or waits for it.
    Run { detach: bool },
}

impl Mode {
    fn verb(self) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::Run { .. } => "run",
        }
    }
}

/// A container that exists: its state directory (locked), record and cgroup, and the spawned init.
/// Dropping it without [`Launched::commit`] removes all of it again.
pub struct Launched {
    pub record: Record,
    pub spawned: Spawned,
    rollback: Rollback,
}

impl Launched {
    /// Keeps the container; returns its parts for callers that go on managing it (`run`).
    pub fn commit(mut self) -> (ContainerDir, Cgroup, Spawned, Record) {
        let dir = self.rollback.dir.take().expect("set until commit");
        let cgroup = self.rollback.cgroup.take().expect("set until commit");
        self.rollback.pid = None;
        self.rollback.lock = None;
        (dir, cgroup, self.spawned, self.record)
    }
}

/// What a failed create has to undo, in reverse order of creation.
#[derive(Default)]
struct Rollback {
    dir: Option<ContainerDir>,
    lock: Option<DirLock>,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            // The init is our child until husk exits: SIGKILL and reap it.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cgroup) = self.cgroup.take() {
            let _ = cgroup.destroy();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
        self.lock = None;
    }
}

pub fn launch(ctx: &Context, args: &CreateArgs, mode: Mode) -> Result<Launched> {
    husk_oci::validate_container_id(&args.id)?;
    let bundle = Bundle::load(&args.bundle)?;
    for warning in &bundle.warnings {
        ctx.log.warn(warning);
    }
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .expect("Bundle::load checked process");
    let console = console(
        process.terminal().unwrap_or(false),
        args.console_socket.as_deref(),
        mode,
    )?;

    let mut rollback = Rollback::default();
    let dir = ctx.store.create(&args.id)?;
    rollback.dir = Some(dir.clone());
    rollback.lock = Some(dir.lock()?);

    let linux = spec.linux().as_ref();
    let cgroups_path = linux
        .and_then(|l| l.cgroups_path().as_deref())
        .map(path_str)
        .transpose()?;
    let cgroup_path = husk_cgroup::container_path(cgroups_path, &args.id, ctx.systemd_cgroup)?;
    let hierarchy = Hierarchy::detect()?;
    let resources = crate::devices::cgroup_resources(spec);
    let cgroup =
        rollback
            .cgroup
            .insert(Cgroup::create(&hierarchy, &cgroup_path, Some(&resources))?);
    let cgroup_fd = cgroup.open_fd()?;

    let start_gate = match mode {
        Mode::Create => StartGate::Socket(listen_start_socket(&dir.start_socket())?),
        Mode::Run { .. } => StartGate::Immediate,
    };

    // Compiled here, installed by the init as its last step before execve.
    let seccomp_profile = linux.and_then(|l| l.seccomp().as_ref());
    let seccomp_filter = match seccomp_profile {
        Some(profile) => Some(husk_seccomp::compile(profile).context("linux.seccomp")?),
        None => None,
    };
    let install_seccomp = seccomp_filter
        .as_ref()
        .map(|filter| move || filter.install().map_err(|err| format!("seccomp: {err}")));
    let seccomp: Option<SeccompStep> = install_seccomp.as_ref().map(|f| f as SeccompStep);
    // SCMP_ACT_NOTIFY: the listener fd comes back from the init and goes to the agent at
    // listenerPath once the init's pid is known.
    let notify_agent = match (
        seccomp_filter.as_ref().is_some_and(|f| f.has_listener()),
        seccomp_profile,
    ) {
        (false, _) | (true, None) => None,
        (true, Some(profile)) => Some(
            profile
                .listener_path()
                .as_deref()
                .context("linux.seccomp.listenerPath: required by SCMP_ACT_NOTIFY")?,
        ),
    };
    let mut seccomp_listener: Option<OwnedFd> = None;
    let mut keep_seccomp_listener = |fd: OwnedFd| -> Result<(), String> {
        seccomp_listener = Some(fd);
        Ok(())
    };

    let spec_hooks = spec.hooks().as_ref();
    let hook_list = |get: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>| -> Vec<Hook> {
        spec_hooks.and_then(|h| get(h).clone()).unwrap_or_default()
    };
    let mut record = Record {
        oci_version: spec.version().clone(),
        id: args.id.clone(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: Timestamp::now().rfc3339_nano(),
        annotations: spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        cgroup_path,
        poststart: hook_list(|h| h.poststart()),
        poststop: hook_list(|h| h.poststop()),
    };

    // prestart (deprecated) then createRuntime, in the runtime namespace while the init waits
    // after its mounts (runtime-spec config.md "Lifecycle" steps 5-6).
    let prestart = hook_list(|h| h.prestart());
    let create_runtime = hook_list(|h| h.create_runtime());
    let creating = record.state(ContainerStatus::Creating);
    let mut run_runtime_hooks = |pid: i32| -> Result<(), String> {
        let state = husk_oci::State {
            pid,
            ..creating.clone()
        };
        hooks::run_all("prestart", &prestart, &state).map_err(|e| e.to_string())?;
        hooks::run_all("createRuntime", &create_runtime, &state).map_err(|e| e.to_string())
    };
    let has_runtime_hooks = !prestart.is_empty() || !create_runtime.is_empty();
    let has_child_hooks =
        spec_hooks.is_some_and(|h| h.create_container().is_some() || h.start_container().is_some());

    let request = SpawnRequest {
        spec,
        rootfs: &bundle.rootfs,
        bundle: &bundle.dir,
        cgroup_fd: Some(cgroup_fd.as_raw_fd()),
        console,
        start_gate,
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
        no_new_keyring: args.no_new_keyring,
        state_json: if has_child_hooks {
            creating.to_json()
        } else {
            String::new()
        },
        runtime_hooks: if has_runtime_hooks {
            Some(&mut run_runtime_hooks)
        } else {
            None
        },
        seccomp,
        on_seccomp_listener: match notify_agent {
            Some(_) => Some(&mut keep_seccomp_listener),
            None => None,
        },
    };
    let spawned = husk_spawn::spawn(request).map_err(|err| anyhow!("{}: {err}", mode.verb()))?;
    rollback.pid = Some(spawned.pid);
    ctx.log.debug(|| format!("init pid {}", spawned.pid));
    if let (Some(agent), Some(listener)) = (notify_agent, seccomp_listener.take()) {
        let metadata = seccomp_profile
            .and_then(|p| p.listener_metadata().as_deref())
            .unwrap_or_default();
        let state = husk_oci::State {
            pid: spawned.pid,
            ..creating.clone()
        };
        seccomp_notify::send_listener(agent, &listener, metadata, &state)?;
    }

    // Not reaped yet, so /proc/<pid> exists even if the init already exited.
    record.pid = spawned.pid;
    record.pid_start_time = ProcStat::read(spawned.pid)
        .with_context(|| format!("read /proc/{}/stat", spawned.pid))?
        .start_time;
    dir.write_record(&record)?;
    if let Some(pid_file) = &args.pid_file {
        write_atomically(pid_file, spawned.pid.to_string().as_bytes())?;
    }
    Ok(Launched {
        record,
        spawned,
        rollback,
    })
}

/// Where the pty master goes, with runc's rules and error texts.
fn console(terminal: bool, console_socket: Option<&Path>, mode: Mode) -> Result<Console> {
    match (terminal, console_socket) {
        (true, Some(path)) => Ok(Console::Socket(connect_console_socket(path)?)),
        (true, None) if mode == (Mode::Run { detach: false }) => Ok(Console::ToParent),
        (true, None) => {
            bail!("cannot allocate tty if husk will detach without setting console socket")
        }
        (false, Some(_)) => bail!("cannot use console socket if husk will not allocate tty"),
        (false, None) => Ok(Console::Inherit),
    }
}

/// The caller listens on a SOCK_STREAM unix socket at this path (runtime-contract §1.5.6).
fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path).with_context(|| format!("console socket {}", path.display()))?;
    connect(sock.as_raw_fd(), &addr).map_err(|errno| {
        anyhow!(
            "connect console socket {}: {}",
            path.display(),
            husk_spawn::error::errno_text(errno)
        )
    })?;
    Ok(sock)
}

/// `<state dir>/start.sock`: SOCK_SEQPACKET, close-on-exec (it must not leak into the container).
fn listen_start_socket(path: &Path) -> Result<OwnedFd> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path).with_context(|| format!("start socket {}", path.display()))?;
    bind(sock.as_raw_fd(), &addr).with_context(|| format!("bind {}", path.display()))?;
    listen(&sock, Backlog::new(1)?).with_context(|| format!("listen {}", path.display()))?;
    Ok(sock)
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("linux.cgroupsPath {path:?}: not UTF-8"))
}
