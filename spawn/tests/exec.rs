//! `husk_spawn::exec` against the real kernel, as root: a process joins a running init's
//! namespaces (user namespace included), gets its pty, reports its exec errors without touching
//! the container; and `release` hands back a seccomp listener installed after the start gate.

mod support;

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use husk_spawn::{exec, release, Console, ExecRequest, Phase, Spawned, StartGate};
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use oci_spec::runtime::Process;
use serde_json::{json, Value};
use support::{Bundle, Container};

/// A running `sleep 1000` init (edited by `edit`), spawned in `run` mode.
fn sleeping_init(bundle: &Bundle, edit: impl FnOnce(&mut Value)) -> Container {
    let spec = bundle.spec(&["sleep", "1000"], edit);
    let mut container = Container::spawn(bundle.request(&spec)).unwrap();
    container.spawned.wait_exec().unwrap();
    container
}

fn process_of(value: Value) -> Process {
    serde_json::from_value(value).unwrap()
}

fn request<'a>(init: &'a Container, process: &'a Process) -> ExecRequest<'a> {
    ExecRequest {
        process,
        init_pid: init.spawned.pid,
        init_pidfd: init.spawned.pidfd.as_fd(),
        cgroup_fd: None,
        console: Console::Inherit,
        preserve_fds: 0,
        seccomp: None,
        seccomp_profile: None,
        on_seccomp_listener: None,
    }
}

/// Waits for an exec'd process; returns its exit code.
fn wait(spawned: &Spawned) -> i32 {
    match waitid(Id::PIDFd(spawned.pidfd.as_fd()), WaitPidFlag::WEXITED).unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("exec'd process did not exit normally: {other:?}"),
    }
}

fn link(path: String) -> std::path::PathBuf {
    std::fs::read_link(&path).unwrap_or_else(|e| panic!("readlink {path}: {e}"))
}

#[test]
fn joins_every_namespace_of_the_init_including_its_user_namespace() {
    let bundle = Bundle::new();
    let init = sleeping_init(&bundle, |s| {
        s["linux"]["namespaces"].as_array_mut().unwrap().extend([
            json!({"type": "user"}),
            json!({"type": "network"}),
            json!({"type": "cgroup"}),
            json!({"type": "time"}),
        ]);
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    let script = "id -u > /out/exec; hostname >> /out/exec; echo $$ >> /out/exec; \
                  pwd >> /out/exec; sleep 1";
    let process = process_of(json!({
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", script],
        "env": ["PATH=/bin"],
        "cwd": "/tmp"
    }));
    let spawned = exec(request(&init, &process)).unwrap();
    let (pid, init_pid) = (spawned.pid, init.spawned.pid);
    for ns in ["user", "mnt", "pid", "net", "uts", "ipc", "cgroup", "time"] {
        assert_eq!(
            link(format!("/proc/{pid}/ns/{ns}")),
            link(format!("/proc/{init_pid}/ns/{ns}")),
            "{ns} namespace"
        );
    }
    assert_eq!(wait(&spawned), 0);
    // uid 0 of the container, its hostname, pid 2 of its pid namespace (after the init), the cwd.
    assert_eq!(bundle.read_out("exec"), "0\nhusk-test\n2\n/tmp\n");
    let meta = std::fs::metadata(bundle.out.join("exec")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 100000);
}

#[test]
fn exec_errors_come_back_and_leave_the_init_running() {
    let bundle = Bundle::new();
    let init = sleeping_init(&bundle, |_| {});
    for (args, expected) in [
        (
            json!(["nosuch"]),
            r#"exec "nosuch": executable file not found in $PATH"#,
        ),
        (
            json!(["/bin/nosuch"]),
            r#"exec "/bin/nosuch": no such file or directory"#,
        ),
    ] {
        let missing = process_of(json!({"user": {"uid": 0, "gid": 0}, "args": args,
                                        "env": ["PATH=/bin"], "cwd": "/"}));
        let err = exec(request(&init, &missing)).unwrap_err();
        assert_eq!(err.phase, Phase::Exec);
        assert_eq!(err.to_string(), expected);
    }
    let process = process_of(json!({"user": {"uid": 0, "gid": 0}, "args": ["true"],
                                 "cwd": "/no/such/dir"}));
    let err = exec(request(&init, &process)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "chdir /no/such/dir: no such file or directory (ENOENT)"
    );
    // The init is untouched: still alive (sleeping, or under load still running or in a short
    // uninterruptible wait while its sleep starts: anything but a zombie), and an exec works.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", init.spawned.pid)).unwrap();
    let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
    assert!(matches!(state, Some("S" | "R" | "D")), "{stat}");
    let ok = process_of(json!({"user": {"uid": 0, "gid": 0}, "args": ["true"], "cwd": "/"}));
    assert_eq!(wait(&exec(request(&init, &ok)).unwrap()), 0);
}

#[test]
fn terminal_process_gets_a_pty_of_the_container_devpts() {
    let bundle = Bundle::new();
    let init = sleeping_init(&bundle, |_| {});
    let process = process_of(json!({
        "terminal": true,
        "consoleSize": {"height": 25, "width": 90},
        "user": {"uid": 0, "gid": 0},
        "args": ["sh", "-c", "stty size; tty; test /dev/console -ef /dev/pts/0 || echo no-console"],
        "env": ["PATH=/bin"],
        "cwd": "/"
    }));
    let mut req = request(&init, &process);
    req.console = Console::ToParent;
    let mut spawned = exec(req).unwrap();
    let master = spawned.pty_master.take().expect("pty master");
    let mut output = Vec::new();
    let mut file = std::fs::File::from(master);
    let mut buf = [0u8; 1024];
    // Until the process is gone (EIO on the master).
    while let Ok(n @ 1..) = file.read(&mut buf) {
        output.extend_from_slice(&buf[..n]);
    }
    assert_eq!(wait(&spawned), 0);
    // The container's devpts (its first pty), and /dev/console is not re-bound for an exec.
    assert_eq!(
        String::from_utf8_lossy(&output),
        "25 90\r\n/dev/pts/0\r\nno-console\r\n"
    );
}

/// An exec'd process without HOME gets its uid's home from the container's /etc/passwd.
#[test]
fn exec_gets_home_from_the_container_passwd() {
    let bundle = Bundle::new();
    std::fs::write(
        bundle.rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
    )
    .unwrap();
    let init = sleeping_init(&bundle, |_| {});
    let process = process_of(json!({
        "user": {"uid": 1000, "gid": 1000},
        "args": ["sh", "-c", "echo $HOME > /out/home"],
        "env": ["PATH=/bin"],
        "cwd": "/"
    }));
    assert_eq!(wait(&exec(request(&init, &process)).unwrap()), 0);
    assert_eq!(bundle.read_out("home"), "/home/u\n");
}

#[test]
fn capabilities_user_and_no_new_privs_are_applied() {
    let bundle = Bundle::new();
    let init = sleeping_init(&bundle, |_| {});
    let kill = json!(["CAP_KILL"]);
    let process = process_of(json!({
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [5]},
        "args": ["sh", "-c", "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs)' /proc/self/status > /out/status"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "noNewPrivileges": true,
        "capabilities": {"bounding": kill, "effective": kill, "permitted": kill,
                         "inheritable": kill, "ambient": kill}
    }));
    assert_eq!(wait(&exec(request(&init, &process)).unwrap()), 0);
    assert_eq!(
        bundle.read_out("status"),
        "Uid:\t1000\t1000\t1000\t1000\nGid:\t1001\t1001\t1001\t1001\nGroups:\t5 \n\
         CapEff:\t0000000000000020\nCapBnd:\t0000000000000020\nNoNewPrivs:\t1\n"
    );
}

#[test]
fn release_returns_a_seccomp_listener_installed_after_the_gate() {
    let bundle = Bundle::new();
    // noNewPrivileges: the seccomp step runs after the gate, when `create` has returned.
    let spec = bundle.spec(&["true"], |s| s["process"]["noNewPrivileges"] = json!(true));
    let path = bundle.dir.path().join("start.sock");
    let listener = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    socket::bind(listener.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
    socket::listen(&listener, socket::Backlog::new(1).unwrap()).unwrap();
    // Stands in for husk-seccomp's Filter::install: an eventfd made in the child.
    let step = || -> Result<Option<OwnedFd>, String> {
        // SAFETY: eventfd with valid flags; the new fd is owned by the OwnedFd.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        // SAFETY: eventfd returned a new fd that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    let mut before_gate = 0;
    let mut on_listener = |_fd: OwnedFd| -> Result<(), String> {
        before_gate += 1;
        Ok(())
    };
    let mut req = bundle.request(&spec);
    req.start_gate = StartGate::Socket(listener);
    req.seccomp = Some(&step);
    req.on_seccomp_listener = Some(&mut on_listener);
    let mut container = Container::spawn(req).unwrap();
    let received = release(&path).unwrap().expect("the listener");
    let target = std::fs::read_link(format!("/proc/self/fd/{}", received.as_raw_fd())).unwrap();
    assert_eq!(target.to_str(), Some("anon_inode:[eventfd]"));
    assert_eq!(container.wait(), 0);
    assert_eq!(before_gate, 0);
}
