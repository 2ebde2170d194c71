//! The container init's runbook, from clone3 to execve: one small step per line, in the order of
//! interfaces.md. Runs in the cloned child only; never returns (it execs or exits 1 after sending
//! its [`SpawnError`] to whoever waits: the parent before Ready, `start` after the gate).

use std::convert::Infallible;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{self, SockFlag};
use nix::unistd;
use oci_spec::runtime::{Hook, LinuxNamespaceType, Process, Spec};

use crate::capabilities::CapabilityPlan;
use crate::channel::{self, Channel, Message};
use crate::error::{Phase, SpawnError};
use crate::exec::{self, Executable};
use crate::namespaces::NamespacePlan;
use crate::rootfs::devfs::DevPlan;
use crate::rootfs::{self, RootfsContext, RuntimeDev};
use crate::{console, dmz, home, hooks, procfs, rlimits, user};
use crate::{Console, SeccompStep, SpawnRequest, StartGate};

/// `KEYCTL_JOIN_SESSION_KEYRING` (linux/keyctl.h).
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// What the parent works out before clone3; the child gets it for free in its copy of memory.
pub(crate) struct InitPlan<'a> {
    pub namespaces: NamespacePlan<'a>,
    pub capabilities: Option<CapabilityPlan>,
    /// 3 + `--preserve-fds` (+ `$LISTEN_FDS`).
    pub first_unpreserved_fd: u32,
    /// /dev, when the runtime builds it while the child mounts.
    pub dev: Option<DevPlan>,
}

/// The child's entry point after clone3.
pub(crate) fn run(mut req: SpawnRequest<'_>, plan: &InitPlan<'_>, channel: Channel) -> ! {
    // A panic must never unwind into the caller's code running in this copy of its process.
    let _panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let prepared = match set_up(&mut req, plan, &channel) {
            Ok(prepared) => prepared,
            Err(err) => exit_with(&channel, err),
        };
        match std::mem::replace(&mut req.start_gate, StartGate::Immediate) {
            StartGate::Immediate => {
                let Err(err) = start(&req, &prepared, &channel, plan);
                exit_with(&channel, err)
            }
            StartGate::Socket(listener) => {
                // The parent returned from `create` after Ready; `start` is the one listening now
                // (and receives a seccomp listener installed after the gate).
                drop(channel);
                let Ok(start_conn) = wait_for_start(&listener) else {
                    exit_now()
                };
                drop(listener);
                let Err(err) = start(&req, &prepared, &start_conn, plan);
                exit_with(&start_conn, err)
            }
        }
    }));
    exit_now()
}

/// What set-up leaves for the steps after the gate.
struct Prepared {
    executable: Executable,
    /// For startContainer hooks (empty without hooks run by the child).
    state_json: String,
}

/// Everything up to Ready.
fn set_up(
    req: &mut SpawnRequest<'_>,
    plan: &InitPlan<'_>,
    channel: &Channel,
) -> Result<Prepared, SpawnError> {
    let spec = req.spec;
    let namespaces = &plan.namespaces;
    let process = process(spec)?;
    // First: while the init is in container namespaces, no container process may ptrace it or
    // open its /proc files (execve resets dumpable, prctl(2)).
    set_non_dumpable()?;
    let state_json = if waits_for_continue(req, namespaces) {
        let host_pid = channel
            .wait_for_continue()
            .map_err(|e| e.into_spawn_error("continue from the runtime"))?;
        if runs_container_hooks(spec) {
            (req.state_json)(host_pid)
        } else {
            String::new()
        }
    } else {
        String::new()
    };
    namespaces.join_in_child(spec)?;
    if namespaces.has_user_namespace() {
        user::become_namespace_root()?;
    }
    if !req.no_new_keyring {
        join_session_keyring()?;
    }
    set_hostnames(spec, namespaces)?;
    require_mount_namespace(namespaces)?;
    let receive_dev = || {
        channel
            .wait_for_dev()
            .map_err(|e| e.into_spawn_error("/dev from the runtime"))
    };
    let dev_populated = || {
        channel
            .wait_for_dev_populated()
            .map_err(|e| e.into_spawn_error("/dev nodes from the runtime"))
    };
    rootfs::prepare(&RootfsContext {
        spec,
        rootfs: req.rootfs,
        cgroup_dir: req.cgroup_dir,
        new_user_namespace: namespaces.creates(LinuxNamespaceType::User),
        new_cgroup_namespace: namespaces.creates(LinuxNamespaceType::Cgroup),
        runtime_dev: plan.dev.as_ref().map(|dev| RuntimeDev {
            index: dev.index,
            receive: &receive_dev,
            populated: &dev_populated,
        }),
    })?;
    if wants_runtime_hooks(req) {
        request_runtime_hooks(channel)?;
    }
    let mut parent_work = ParentWorkGate {
        channel,
        pending: req.parent_work.is_some(),
    };
    let create_container_hooks = hooks_of(spec, HookKind::CreateContainer);
    if !create_container_hooks.is_empty() {
        parent_work.pass()?;
    }
    run_hooks("createContainer", create_container_hooks, &state_json)?;
    rootfs::pivot(req.rootfs, req.no_pivot)?;
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        procfs::write_sysctls(sysctl)?;
    }
    if process.terminal() == Some(true) {
        // The pty is a device: opened under the container's device filter, as by runc.
        parent_work.pass()?;
    }
    let console = std::mem::replace(&mut req.console, Console::Inherit);
    let terminal_peer = set_up_console(console, process, channel, console::create)?;
    rootfs::finalize(spec)?;
    if let Some(score) = process.oom_score_adj() {
        procfs::write_oom_score_adj(score)?;
    }
    if let Some(limits) = process.rlimits() {
        rlimits::apply(limits)?;
    }
    unistd::setsid().map_err(|e| SpawnError::setup("setsid", e))?;
    if let Some(peer) = terminal_peer {
        console::make_controlling_terminal(peer)?;
    }
    // cwd first: a relative $PATH entry is relative to it.
    change_dir(process)?;
    let env = home::with_home(
        process.env().as_deref().unwrap_or_default(),
        process.user().uid(),
    );
    let profile = req.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let executable = exec::find(
        process.args().as_deref().unwrap_or_default(),
        &env,
        dmz::fits(profile),
    )?;
    // The bounding set needs CAP_SETPCAP, which a switch to a non-zero uid takes away.
    if seccomp_before_user_switch(process) {
        // Waiting is a recvmsg, which the container's profile need not allow.
        parent_work.pass()?;
        install_seccomp(req.seccomp, req.on_seccomp_listener.is_some(), channel)?;
    }
    if let Some(caps) = &plan.capabilities {
        caps.drop_bounding()?;
    }
    user::switch_user(process.user())?;
    if let Some(caps) = &plan.capabilities {
        caps.apply()?;
    }
    parent_work.pass()?;
    channel
        .send(&Message::Ready, None)
        .map_err(|e| SpawnError::setup("send ready to the runtime", e))?;
    Ok(Prepared {
        executable,
        state_json,
    })
}

/// After the gate: startContainer hooks, no_new_privs, seccomp (when no_new_privs allows it
/// here), close-on-exec for every unpreserved fd, execve. `waiter` is whoever waits for the exec
/// result: the parent in `run` mode, `start` in `create` mode.
fn start(
    req: &SpawnRequest<'_>,
    prepared: &Prepared,
    waiter: &Channel,
    plan: &InitPlan<'_>,
) -> Result<Infallible, SpawnError> {
    let process = process(req.spec)?;
    run_hooks(
        "startContainer",
        hooks_of(req.spec, HookKind::StartContainer),
        &prepared.state_json,
    )?;
    if process.no_new_privileges() == Some(true) {
        set_no_new_privs()?;
    }
    exec::reset_signals()?;
    let route = exec::close_fds_on_exec(
        plan.first_unpreserved_fd,
        &prepared.executable,
        waiter.as_fd(),
    )?;
    if !seccomp_before_user_switch(process) {
        install_seccomp(req.seccomp, req.on_seccomp_listener.is_some(), waiter)?;
    }
    Err(exec::exec(&prepared.executable, route, waiter.as_fd()))
}

/// Whether the parent sends [`Message::Continue`]: it writes the id maps of a new user namespace,
/// and the child's hooks need its host pid. Both sides compute it from the same request.
pub(crate) fn waits_for_continue(req: &SpawnRequest<'_>, plan: &NamespacePlan<'_>) -> bool {
    plan.creates(LinuxNamespaceType::User) || runs_container_hooks(req.spec)
}

fn runs_container_hooks(spec: &Spec) -> bool {
    !hooks_of(spec, HookKind::CreateContainer).is_empty()
        || !hooks_of(spec, HookKind::StartContainer).is_empty()
}

fn process(spec: &Spec) -> Result<&Process, SpawnError> {
    spec.process()
        .as_ref()
        .ok_or_else(|| SpawnError::with_detail(Phase::Setup, "config.json", "no process"))
}

pub(crate) fn set_non_dumpable() -> Result<(), SpawnError> {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes no pointers.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(SpawnError::setup("prctl PR_SET_DUMPABLE", Errno::last()));
    }
    Ok(())
}

/// A fresh anonymous session keyring, so the container cannot use the runtime's keys.
pub(crate) fn join_session_keyring() -> Result<(), SpawnError> {
    // SAFETY: a NULL name is allowed for KEYCTL_JOIN_SESSION_KEYRING (keyctl(2)).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    match ret {
        -1 if Errno::last() != Errno::ENOSYS => Err(SpawnError::setup(
            "join a new session keyring",
            Errno::last(),
        )),
        _ => Ok(()),
    }
}

/// `hostname`/`domainname` change the UTS namespace: refused without one (runc).
fn set_hostnames(spec: &Spec, plan: &NamespacePlan<'_>) -> Result<(), SpawnError> {
    let (hostname, domainname) = (spec.hostname().as_deref(), spec.domainname().as_deref());
    if hostname.is_none() && domainname.is_none() {
        return Ok(());
    }
    if !plan.has(LinuxNamespaceType::Uts) {
        return Err(SpawnError::with_detail(
            Phase::Setup,
            "set hostname",
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if let Some(name) = hostname {
        unistd::sethostname(name)
            .map_err(|e| SpawnError::setup(format!("sethostname {name}"), e))?;
    }
    if let Some(name) = domainname {
        // SAFETY: the pointer and length describe `name`'s bytes, which outlive the call.
        if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } != 0 {
            return Err(SpawnError::setup(
                format!("setdomainname {name}"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

/// rootfs::prepare remounts and pivots: in the runtime's mount namespace that would change the
/// host's mount table.
fn require_mount_namespace(plan: &NamespacePlan<'_>) -> Result<(), SpawnError> {
    if plan.has(LinuxNamespaceType::Mount) {
        return Ok(());
    }
    Err(SpawnError::with_detail(
        Phase::Setup,
        "rootfs",
        "a mount namespace is required",
    ))
}

/// Whether the parent runs createRuntime/prestart hooks mid-setup; both sides compute it from
/// the same request, so the round trip happens only when there are such hooks.
pub(crate) fn wants_runtime_hooks(req: &SpawnRequest<'_>) -> bool {
    req.runtime_hooks.is_some()
        && (!hooks_of(req.spec, HookKind::Prestart).is_empty()
            || !hooks_of(req.spec, HookKind::CreateRuntime).is_empty())
}

/// The parent's work (the cgroup device filter), waited for once, at the first step that needs it:
/// before anything but husk runs in the container (createContainer hooks), before the init opens
/// a device (the pty), before its seccomp filter, at the latest before Ready. The later, the more
/// of the init's setup the parent's work overlaps.
struct ParentWorkGate<'c> {
    channel: &'c Channel,
    pending: bool,
}

impl ParentWorkGate<'_> {
    fn pass(&mut self) -> Result<(), SpawnError> {
        if std::mem::take(&mut self.pending) {
            self.channel
                .wait_for_parent_work()
                .map_err(|e| e.into_spawn_error("wait for the runtime"))?;
        }
        Ok(())
    }
}

fn request_runtime_hooks(channel: &Channel) -> Result<(), SpawnError> {
    channel
        .send(&Message::RuntimeHooksRequest, None)
        .map_err(|e| SpawnError::setup("request the runtime hooks", e))?;
    channel
        .wait_for_runtime_hooks_done()
        .map_err(|e| e.into_spawn_error("the runtime hooks"))
}

/// Allocates the pty: [`console::create`] for the init, [`console::open`] for an exec'd process.
pub(crate) type MakePty = fn(Option<&oci_spec::runtime::Box>) -> Result<console::Pty, SpawnError>;

pub(crate) enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
}

pub(crate) fn hooks_of(spec: &Spec, kind: HookKind) -> &[Hook] {
    let Some(hooks) = spec.hooks() else {
        return &[];
    };
    #[allow(deprecated)] // prestart is deprecated in the spec but still run (runtime spec 1.3).
    let list = match kind {
        HookKind::Prestart => hooks.prestart(),
        HookKind::CreateRuntime => hooks.create_runtime(),
        HookKind::CreateContainer => hooks.create_container(),
        HookKind::StartContainer => hooks.start_container(),
    };
    list.as_deref().unwrap_or_default()
}

fn run_hooks(kind: &'static str, list: &[Hook], state_json: &str) -> Result<(), SpawnError> {
    hooks::run_all(kind, list, state_json).map_err(|e| {
        SpawnError::with_detail(
            Phase::Setup,
            format!("{kind} hook {:?}", e.path),
            e.failure.to_string(),
        )
    })
}

/// With `process.terminal`: the pty is made by `make_pty` and its master handed over (console
/// socket or parent); returns the peer, which becomes the controlling terminal after setsid.
pub(crate) fn set_up_console(
    console: Console,
    process: &Process,
    channel: &Channel,
    make_pty: MakePty,
) -> Result<Option<OwnedFd>, SpawnError> {
    if !process.terminal().unwrap_or(false) || matches!(console, Console::Inherit) {
        return Ok(None);
    }
    let pty = make_pty(process.console_size().as_ref())?;
    match console {
        Console::Socket(socket) => channel::send_console_master(socket.as_fd(), pty.master.as_fd())
            .map_err(|e| SpawnError::setup("send the pty master to the console socket", e))?,
        Console::ToParent => channel
            .send(&Message::PtyMaster, Some(pty.master.as_fd()))
            .map_err(|e| SpawnError::setup("send the pty master to the runtime", e))?,
        Console::Inherit => {}
    }
    Ok(Some(pty.peer))
}

pub(crate) fn change_dir(process: &Process) -> Result<(), SpawnError> {
    let cwd = process.cwd();
    // rootfs::pivot already left the init in "/".
    if cwd == std::path::Path::new("/") {
        return Ok(());
    }
    unistd::chdir(cwd).map_err(|e| SpawnError::setup(format!("chdir {}", cwd.display()), e))
}

/// `create`: block until `start` connects and sends its release byte (a bare connect, e.g. a
/// probe, releases nothing). The connection is close-on-exec, so `start` reads EOF once execve
/// succeeded, or the error message before it.
fn wait_for_start(listener: &OwnedFd) -> nix::Result<Channel> {
    loop {
        let conn = match socket::accept4(listener, SockFlag::SOCK_CLOEXEC) {
            Err(Errno::EINTR) => continue,
            other => other?,
        };
        let mut byte = [0u8; 1];
        if let Ok(1) = socket::recv(conn.as_raw_fd(), &mut byte, socket::MsgFlags::empty()) {
            return Ok(Channel::from_fd(conn));
        }
    }
}

pub(crate) fn set_no_new_privs() -> Result<(), SpawnError> {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1) takes no pointers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(SpawnError::setup(
            "prctl PR_SET_NO_NEW_PRIVS",
            Errno::last(),
        ));
    }
    Ok(())
}

/// Where the seccomp step runs: as late as possible (right before execve) when no_new_privs is
/// set, else before the user switch, while the init still has CAP_SYS_ADMIN, which seccomp(2)
/// requires without no_new_privs (runc does the same). Shared with the parent, which must know
/// when the listener comes.
pub(crate) fn seccomp_before_user_switch(process: &Process) -> bool {
    process.no_new_privileges() != Some(true)
}

/// Runs the seccomp step. When the runtime asked for the notify listener it is sent on `channel`:
/// to the parent, or after the gate in `create` mode to `start` (which forwards it).
pub(crate) fn install_seccomp(
    seccomp: Option<SeccompStep<'_>>,
    listener_wanted: bool,
    channel: &Channel,
) -> Result<(), SpawnError> {
    let Some(seccomp) = seccomp else {
        return Ok(());
    };
    let listener = seccomp().map_err(|d| SpawnError::with_detail(Phase::Setup, "seccomp", d))?;
    if listener_wanted {
        channel
            .send(
                &Message::SeccompInstalled,
                listener.as_ref().map(|fd| fd.as_fd()),
            )
            .map_err(|e| SpawnError::setup("send the seccomp listener to the runtime", e))?;
    }
    Ok(())
}

pub(crate) fn exit_with(report_to: &Channel, err: SpawnError) -> ! {
    report_to.report(err);
    exit_now()
}

pub(crate) fn exit_now() -> ! {
    // SAFETY: _exit(2) ends this process without running the caller's atexit handlers or
    // flushing its stdio buffers, which belong to the runtime process we were cloned from.
    unsafe { libc::_exit(1) }
}
