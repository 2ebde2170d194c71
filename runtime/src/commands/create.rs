//! `create`, and the part of `run` it shares: bundle -> state directory -> cgroup -> start socket
//! -> spawn -> state.json + pid file. Any failure after the state directory exists undoes
//! everything (kills and reaps the init, removes the cgroup and the directory).
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use husk_cgroup::{Cgroup, Hierarchy};
use husk_oci::{Bundle, ContainerStatus, State, Timestamp};
use husk_spawn::{Console, ParentWork, SeccompStep, SpawnRequest, Spawned, StartGate};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, Hooks, Spec};

use super::{qos, Context};
use crate::cli::CreateArgs;
use crate::container::{QosRecord, Record};
use crate::hooks;
use crate::procfs::ProcStat;
use crate::seccomp::Seccomp;
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
    pub fn commit(mut self) -> (ContainerDir, Spawned, Record) {
        let dir = self.rollback.dir.take().expect("set until commit");
        self.rollback.cgroup = None;
        self.rollback.qos_ancestors = None;
        self.rollback.pid = None;
        self.rollback.lock = None;
        (dir, self.spawned, self.record)
    }
}

/// What a failed create has to undo, in reverse order of creation.
#[derive(Default)]
struct Rollback {
    dir: Option<ContainerDir>,
    lock: Option<DirLock>,
    cgroup: Option<Cgroup>,
    /// The cgroup's ancestors had their memory.min raised for it: lower them again once it is gone.
    qos_ancestors: Option<(Hierarchy, PathBuf)>,
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
        if let Some((hierarchy, rel)) = self.qos_ancestors.take() {
            let _ = husk_cgroup::qos::reconcile_ancestors(&hierarchy, &rel);
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

    // Before anything exists: a bad policy file or io.husk.qos.* annotation fails the create with
    // nothing to undo.
    let qos = qos::prepare(ctx, spec)?;

    let mut rollback = Rollback::default();
    let dir = ctx.store.create(&args.id)?;
    rollback.dir = Some(dir.clone());
    rollback.lock = Some(dir.lock()?);

    let cgroup_path = cgroup_path(ctx, spec, &args.id)?;
    let hierarchy = Hierarchy::detect()?;
    let resources = husk_cgroup::container_resources(spec.linux().as_ref());
    let cgroup = Cgroup::create(&hierarchy, &cgroup_path, Some(&resources))?;
    let cgroup = rollback.cgroup.insert(cgroup);
    if let Some((policy, plan)) = &qos {
        if policy.protect_ancestors && plan.memory_min() > 0 {
            rollback.qos_ancestors = Some((hierarchy.clone(), cgroup_path.clone()));
        }
        qos::apply(&hierarchy, cgroup, &cgroup_path, policy, plan, false)?;
    }
    let cgroup_fd = cgroup.fd()?;

    let start_gate = match mode {
        Mode::Create => {
            let (address, _dir_fd) = dir.start_socket_address()?;
            StartGate::Socket(listen_start_socket(&address)?)
        }
        Mode::Run { .. } => StartGate::Immediate,
    };
    let seccomp = Seccomp::of_spec(spec)?;
    let install_seccomp = seccomp.as_ref().map(|s| move || s.install());
    let mut seccomp_listener: Option<OwnedFd> = None;
    let mut keep_seccomp_listener = |fd: OwnedFd| -> Result<(), String> {
        seccomp_listener = Some(fd);
        Ok(())
    };

    let mut record = new_record(&bundle, &args.id, cgroup_path);
    record.qos = qos.map(|(_, plan)| QosRecord::of(spec, &plan));
    let creating = record.state(ContainerStatus::Creating);
    let hooks = SpecHooks(spec.hooks().as_ref());
    // prestart (deprecated) then createRuntime, in the runtime namespace while the init waits
    // after its mounts (runtime-spec config.md "Lifecycle" steps 5-6).
    let (prestart, create_runtime) = (
        hooks.list(Hooks::prestart),
        hooks.list(Hooks::create_runtime),
    );
    let mut run_runtime_hooks = |pid: i32| -> Result<(), String> {
        let state = State {
            pid,
            ..creating.clone()
        };
        hooks::run_all("prestart", &prestart, &state).map_err(|e| e.to_string())?;
        hooks::run_all("createRuntime", &create_runtime, &state).map_err(|e| e.to_string())
    };
    let has_runtime_hooks = !prestart.is_empty() || !create_runtime.is_empty();
    let mut install_device_filter = || {
        cgroup
            .install_devices(&resources)
            .map_err(|e| e.to_string())
    };

    let request = SpawnRequest {
        spec,
        rootfs: &bundle.rootfs,
        bundle: &bundle.dir,
        cgroup_fd: Some(cgroup_fd.as_raw_fd()),
        cgroup_dir: Some(cgroup.dir()),
        console,
        start_gate,
        preserve_fds: args.preserve_fds,
        no_pivot: args.no_pivot,
        no_new_keyring: args.no_new_keyring,
        // Called in the child, only when it runs createContainer/startContainer hooks.
        state_json: &|pid| {
            State {
                pid,
                ..creating.clone()
            }
            .to_json()
        },
        parent_work: Some(ParentWork {
            step: "cgroup device filter",
            run: &mut install_device_filter,
        }),
        runtime_hooks: if has_runtime_hooks {
            Some(&mut run_runtime_hooks)
        } else {
            None
        },
        seccomp: install_seccomp.as_ref().map(|f| f as SeccompStep),
        on_seccomp_listener: if seccomp.as_ref().is_some_and(Seccomp::wants_listener) {
            Some(&mut keep_seccomp_listener)
        } else {
            None
        },
    };
    let mut spawned =
        husk_spawn::spawn(request).map_err(|err| anyhow!("{}: {err}", mode.verb()))?;
    rollback.pid = Some(spawned.pid);
    ctx.log.debug(|| format!("init pid {}", spawned.pid));
    if let (Some(seccomp), Some(listener)) = (&seccomp, &seccomp_listener) {
        seccomp.send_listener(
            listener,
            &State {
                pid: spawned.pid,
                ..creating
            },
        )?;
    }
    if let Mode::Run { .. } = mode {
        // The exec result before the bookkeeping below: woken by Ready on the init's CPU (the
        // scheduler's wake-affine choice), the runtime would otherwise keep the init from its
        // exec while it writes the record.
        spawned
            .wait_exec()
            .map_err(|err| anyhow!("{}: {err}", mode.verb()))?;
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

/// linux.cgroupsPath (or `/<id>`), relative to the cgroup2 root.
fn cgroup_path(ctx: &Context, spec: &Spec, id: &str) -> Result<PathBuf> {
    let cgroups_path = match spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_deref())
    {
        Some(path) => Some(
            path.to_str()
                .with_context(|| format!("linux.cgroupsPath {path:?}: not UTF-8"))?,
        ),
        None => None,
    };
    Ok(husk_cgroup::container_path(
        cgroups_path,
        id,
        ctx.systemd_cgroup,
    )?)
}

/// The record of a container being created (pid filled in after spawn).
fn new_record(bundle: &Bundle, id: &str, cgroup_path: PathBuf) -> Record {
    let spec = &bundle.spec;
    let hooks = SpecHooks(spec.hooks().as_ref());
    Record {
        oci_version: spec.version().clone(),
        id: id.to_string(),
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
        poststart: hooks.list(Hooks::poststart),
        poststop: hooks.list(Hooks::poststop),
        qos: None,
    }
}

/// config.json `hooks`, by phase.
#[derive(Clone, Copy)]
struct SpecHooks<'a>(Option<&'a Hooks>);

impl SpecHooks<'_> {
    fn list(self, phase: fn(&Hooks) -> &Option<Vec<Hook>>) -> Vec<Hook> {
        self.0.and_then(|h| phase(h).clone()).unwrap_or_default()
    }
}

/// Where the pty master goes, with runc's rules and error texts (also for `exec`).
pub fn console(terminal: bool, console_socket: Option<&Path>, mode: Mode) -> Result<Console> {
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
    crate::unix_socket::connect_stream(path).map_err(|errno| {
        anyhow!(
            "connect console socket {}: {}",
            path.display(),
            husk_spawn::error::errno_text(errno)
        )
    })
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
