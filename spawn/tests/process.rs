//! The process side of container creation against the real kernel, as root: clone3 with
//! namespaces, the pre-exec pipeline, exec, and the error messages `create` prints.

mod support;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use husk_spawn::{release, Console, ParentWork, Phase, StartGate};
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};
use serde_json::json;
use support::{path_str, run, run_sh, Bundle, Container};

#[test]
fn exit_codes_are_the_container_process_exit_codes() {
    let bundle = Bundle::new();
    assert_eq!(run(&bundle, &bundle.spec(&["true"], |_| {})), 0);
    assert_eq!(run_sh(&bundle, "exit 3", |_| {}), 3);
}

#[test]
fn hostname_and_domainname_are_set_in_the_new_uts_namespace() {
    let bundle = Bundle::new();
    let script = "hostname > /out/hostname; cat /proc/sys/kernel/domainname >> /out/hostname";
    assert_eq!(
        run_sh(&bundle, script, |s| s["domainname"] = json!("husk.example")),
        0
    );
    assert_eq!(bundle.read_out("hostname"), "husk-test\nhusk.example\n");
    // The host's hostname is untouched.
    assert_ne!(nix::unistd::gethostname().unwrap(), "husk-test");
}

#[test]
fn root_capabilities_match_the_spec() {
    let bundle = Bundle::new();
    let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let code = run_sh(
        &bundle,
        "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status > /out/caps",
        |s| {
            s["process"]["capabilities"] = json!({
                "bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []
            });
        },
    );
    assert_eq!(code, 0);
    // CHOWN = bit 0, KILL = bit 5, NET_BIND_SERVICE = bit 10.
    assert_eq!(
        bundle.read_out("caps"),
        "CapPrm:\t0000000000000421\nCapEff:\t0000000000000421\nCapBnd:\t0000000000000421\n"
    );
}

#[test]
fn non_root_user_keeps_ambient_capabilities_and_gets_ids_groups_umask() {
    let bundle = Bundle::new();
    let kill = json!(["CAP_KILL"]);
    let script = "grep -E '^(Uid|Gid|Groups|CapEff|CapAmb)' /proc/self/status > /out/status; \
                  umask > /out/umask";
    let code = run_sh(&bundle, script, |s| {
        s["process"]["user"] =
            json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 23});
        s["process"]["capabilities"] = json!({
            "bounding": kill, "effective": kill, "permitted": kill, "inheritable": kill, "ambient": kill
        });
    });
    assert_eq!(code, 0);
    assert_eq!(
        bundle.read_out("status"),
        "Uid:\t1000\t1000\t1000\t1000\nGid:\t1001\t1001\t1001\t1001\nGroups:\t10 20 \n\
         CapEff:\t0000000000000020\nCapAmb:\t0000000000000020\n"
    );
    assert_eq!(bundle.read_out("umask"), "0027\n");
}

#[test]
fn env_and_cwd_come_from_the_spec() {
    let bundle = Bundle::new();
    let code = run_sh(&bundle, r#"echo "$FOO $(pwd)" > /out/env"#, |s| {
        s["process"]["env"] = json!(["PATH=/bin", "FOO=bar"]);
        s["process"]["cwd"] = json!("/tmp");
    });
    assert_eq!(code, 0);
    assert_eq!(bundle.read_out("env"), "bar /tmp\n");
}

#[test]
fn rlimits_are_applied() {
    let bundle = Bundle::new();
    let code = run_sh(
        &bundle,
        "ulimit -Sn > /out/nofile; ulimit -Hn >> /out/nofile",
        |s| {
            s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
        },
    );
    assert_eq!(code, 0);
    assert_eq!(bundle.read_out("nofile"), "512\n1024\n");
}

#[test]
fn raising_a_hard_rlimit_beyond_the_runtime_fails_naming_it() {
    let bundle = Bundle::new();
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let spec = bundle.spec(&["true"], |s| {
        s["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]);
    });
    // This host's root lacks CAP_SYS_RESOURCE.
    let err = Container::spawn(bundle.request(&spec))
        .err()
        .expect("setrlimit must fail");
    assert_eq!(err.phase, Phase::Setup);
    assert!(
        err.to_string().starts_with("setrlimit RLIMIT_NOFILE"),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("operation not permitted (EPERM)"),
        "{err}"
    );
}

#[test]
fn user_namespace_gets_the_spec_mappings() {
    let bundle = Bundle::new();
    let code = run_sh(
        &bundle,
        "cat /proc/self/uid_map /proc/self/gid_map > /out/maps; id -u >> /out/maps",
        |s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            s["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            s["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        },
    );
    assert_eq!(code, 0);
    assert_eq!(
        bundle.read_out("maps"),
        "         0     100000      65536\n         0     200000      65536\n0\n"
    );
    // The file was created by container root, i.e. host uid 100000.
    let meta = std::fs::metadata(bundle.out.join("maps")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 100000);
}

#[test]
fn console_to_parent_gives_a_working_pty_master() {
    let bundle = Bundle::new();
    let spec = bundle.spec(
        &[
            "sh",
            "-c",
            "stty size; tty; test /dev/console -ef /dev/pts/0 && echo hello-tty",
        ],
        |s| {
            s["process"]["terminal"] = json!(true);
            s["process"]["consoleSize"] = json!({"height": 30, "width": 100});
        },
    );
    let mut req = bundle.request(&spec);
    req.console = Console::ToParent;
    let mut container = Container::spawn(req).unwrap();
    let master = container.spawned.pty_master.take().expect("pty master");
    container.spawned.wait_exec().unwrap();
    let mut output = Vec::new();
    let mut file = std::fs::File::from(master);
    let mut buf = [0u8; 1024];
    // Read until the peer is closed by the exiting init (EIO on a pty master).
    loop {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => output.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(container.wait(), 0);
    let output = String::from_utf8_lossy(&output);
    assert_eq!(output, "30 100\r\n/dev/pts/0\r\nhello-tty\r\n");
}

#[test]
fn console_socket_receives_the_master_per_runc_protocol() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["sh", "-c", "echo via-socket"], |s| {
        s["process"]["terminal"] = json!(true);
    });
    let (ours, theirs) = socket::socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let mut req = bundle.request(&spec);
    req.console = Console::Socket(theirs);
    let mut container = Container::spawn(req).unwrap();
    let mut data = [0u8; 64];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 2]);
    let mut iov = [std::io::IoSliceMut::new(&mut data)];
    let msg = socket::recvmsg::<()>(
        ours.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        socket::MsgFlags::empty(),
    )
    .unwrap();
    let fds: Vec<_> = msg
        .cmsgs()
        .unwrap()
        .flat_map(|c| match c {
            socket::ControlMessageOwned::ScmRights(fds) => fds,
            _ => vec![],
        })
        .collect();
    let len = msg.bytes;
    assert_eq!(&data[..len], b"/dev/ptmx");
    assert_eq!(fds.len(), 1, "exactly one fd");
    // SAFETY: SCM_RIGHTS gave us this fd.
    let mut master = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    container.spawned.wait_exec().unwrap();
    let mut output = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n @ 1..) = master.read(&mut buf) {
        output.extend_from_slice(&buf[..n]);
    }
    assert_eq!(container.wait(), 0);
    assert_eq!(String::from_utf8_lossy(&output), "via-socket\r\n");
}

#[test]
fn missing_absolute_executable_is_reported_at_create() {
    let bundle = Bundle::new();
    let err = Container::spawn(bundle.request(&bundle.spec(&["/bin/nosuch"], |_| {})))
        .err()
        .expect("must fail");
    assert_eq!(err.phase, Phase::Exec);
    assert_eq!(
        err.to_string(),
        r#"exec "/bin/nosuch": no such file or directory"#
    );
}

#[test]
fn missing_path_name_is_reported_at_create() {
    let bundle = Bundle::new();
    let err = Container::spawn(bundle.request(&bundle.spec(&["nosuch"], |_| {})))
        .err()
        .expect("must fail");
    assert_eq!(err.phase, Phase::Exec);
    assert_eq!(
        err.to_string(),
        r#"exec "nosuch": executable file not found in $PATH"#
    );
}

#[test]
fn non_executable_file_is_reported_at_create() {
    let bundle = Bundle::new();
    let err = Container::spawn(bundle.request(&bundle.spec(&["/etc/passwd"], |_| {})))
        .err()
        .expect("must fail");
    assert_eq!(err.phase, Phase::Exec);
    assert_eq!(err.to_string(), r#"exec "/etc/passwd": permission denied"#);
}

#[test]
fn runtime_fds_do_not_leak_into_the_container() {
    let bundle = Bundle::new();
    // An fd WITHOUT close-on-exec, as a careless caller might hold.
    // SAFETY: plain open of an existing file; the fd is ours and closed below.
    let raw = unsafe { libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) };
    assert!(raw >= 0);
    // SAFETY: dup2 onto an fd number this test reserves for itself.
    let leaked = unsafe { libc::dup2(raw, 200) };
    assert_eq!(leaked, 200);
    let code = run_sh(&bundle, "ls /proc/self/fd > /out/fds", |_| {});
    // SAFETY: closing the two fds this test opened.
    unsafe {
        libc::close(raw);
        libc::close(leaked);
    }
    assert_eq!(code, 0);
    let fds = bundle.read_out("fds");
    let fds: Vec<&str> = fds.split_whitespace().collect();
    // 0-2 plus the directory fd `ls` itself has open.
    assert_eq!(fds, ["0", "1", "2", "3"], "fds seen in the container");
}

/// A listening start socket as `create` makes it.
fn start_socket(bundle: &Bundle) -> (OwnedFd, std::path::PathBuf) {
    let path = bundle.dir.path().join("start.sock");
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    socket::bind(fd.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
    socket::listen(&fd, socket::Backlog::new(1).unwrap()).unwrap();
    (fd, path)
}

#[test]
fn start_gate_socket_holds_the_init_until_release() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["sh", "-c", "echo started > /out/started"], |_| {});
    let (listener, path) = start_socket(&bundle);
    let mut req = bundle.request(&spec);
    req.start_gate = StartGate::Socket(listener);
    let mut container = Container::spawn(req).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !bundle.out.join("started").exists(),
        "the init ran before start"
    );
    release(&path).unwrap();
    assert_eq!(container.wait(), 0);
    assert_eq!(bundle.read_out("started"), "started\n");
}

#[test]
fn release_returns_the_exec_error() {
    let bundle = Bundle::new();
    // Passes the create-time lookup (a file with an execute bit) but execve rejects it.
    let bad = bundle.rootfs.join("bin/bad");
    std::fs::write(&bad, "not an executable").unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let spec = bundle.spec(&["/bin/bad"], |_| {});
    let (listener, path) = start_socket(&bundle);
    let mut req = bundle.request(&spec);
    req.start_gate = StartGate::Socket(listener);
    let mut container = Container::spawn(req).unwrap();
    let err = release(&path).unwrap_err();
    assert_eq!(err.phase, Phase::Exec);
    assert_eq!(err.to_string(), r#"exec "/bin/bad": exec format error"#);
    assert_eq!(container.wait(), 1);
}

#[test]
fn release_without_a_waiting_init_fails() {
    let bundle = Bundle::new();
    let err = release(&bundle.dir.path().join("start.sock")).unwrap_err();
    assert!(
        err.to_string().contains("no such file or directory"),
        "{err}"
    );
}

#[test]
fn start_container_hook_failure_is_returned_by_release() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["true"], |s| {
        s["hooks"] = json!({"startContainer": [{"path": "/bin/false", "args": ["false"]}]});
    });
    let (listener, path) = start_socket(&bundle);
    let mut req = bundle.request(&spec);
    req.start_gate = StartGate::Socket(listener);
    let mut container = Container::spawn(req).unwrap();
    let err = release(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"startContainer hook "/bin/false": exit status: 1"#
    );
    assert_eq!(container.wait(), 1);
}

#[test]
fn create_container_hook_gets_state_on_stdin_and_its_env() {
    let bundle = Bundle::new();
    let out = path_str(&bundle.out).to_owned();
    let spec = bundle.spec(&["true"], |s| {
        s["hooks"] = json!({"createContainer": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {out}/state; echo \"$HOOK_VAR\" > {out}/env")],
            "env": ["HOOK_VAR=from-spec"]
        }]});
    });
    let mut container = Container::spawn(bundle.request(&spec)).unwrap();
    container.spawned.wait_exec().unwrap();
    assert_eq!(container.wait(), 0);
    // The state names the init's host pid, which only the parent knew.
    assert_eq!(
        bundle.read_out("state"),
        support::state_json(container.spawned.pid)
    );
    assert_eq!(bundle.read_out("env"), "from-spec\n");
}

#[test]
fn runtime_hooks_run_in_the_parent_with_the_child_pid() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["true"], |s| {
        s["hooks"] = json!({"createRuntime": [{"path": "/bin/true"}]});
    });
    let mut seen = None;
    let mut hooks = |pid: i32| -> Result<(), String> {
        // The child is waiting, in its own mount namespace already.
        let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
        assert_ne!(ours, theirs);
        seen = Some(pid);
        Ok(())
    };
    let mut req = bundle.request(&spec);
    req.runtime_hooks = Some(&mut hooks);
    let mut container = Container::spawn(req).unwrap();
    container.spawned.wait_exec().unwrap();
    assert_eq!(container.wait(), 0);
    assert_eq!(seen, Some(container.spawned.pid));
}

#[test]
fn runtime_hook_failure_fails_spawn_and_reaps_the_child() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["true"], |s| {
        s["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    });
    let mut hooks = |_pid: i32| -> Result<(), String> { Err("prestart hook failed".into()) };
    let mut req = bundle.request(&spec);
    req.runtime_hooks = Some(&mut hooks);
    let err = Container::spawn(req).err().expect("must fail");
    assert_eq!(err.to_string(), "run hooks: prestart hook failed");
}

#[test]
fn hook_timeout_kills_the_hook() {
    let hook: oci_spec::runtime::Hook = serde_json::from_value(
        json!({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}),
    )
    .unwrap();
    let started = Instant::now();
    let err = husk_spawn::hooks::run(&hook, "{}").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.to_string(), r#"hook "/bin/sleep": timeout after 1s"#);
}

#[test]
fn hook_exit_status_is_reported_with_kind_and_path() {
    let hook: oci_spec::runtime::Hook =
        serde_json::from_value(json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]})).unwrap();
    let err = husk_spawn::hooks::run_all("poststart", &[hook], "{}").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"poststart hook "/bin/sh": exit status: 7"#
    );
}

#[test]
fn sysctl_oom_score_adj_and_no_new_privileges_are_applied() {
    let bundle = Bundle::new();
    let script = "cat /proc/sys/kernel/shmmni /proc/self/oom_score_adj > /out/values; \
                  grep NoNewPrivs /proc/self/status >> /out/values";
    let code = run_sh(&bundle, script, |s| {
        // kernel.shmmni belongs to the (new) ipc namespace.
        s["linux"]["sysctl"] = json!({"kernel.shmmni": "1234"});
        s["process"]["oomScoreAdj"] = json!(123);
        s["process"]["noNewPrivileges"] = json!(true);
    });
    assert_eq!(code, 0);
    assert_eq!(bundle.read_out("values"), "1234\n123\nNoNewPrivs:\t1\n");
}

#[test]
fn sysctl_of_a_missing_key_names_the_file() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["true"], |s| {
        s["linux"]["sysctl"] = json!({"kernel.nosuch": "1"})
    });
    let err = Container::spawn(bundle.request(&spec))
        .err()
        .expect("must fail");
    assert_eq!(
        err.to_string(),
        "write /proc/sys/kernel/nosuch: no such file or directory (ENOENT)"
    );
}

#[test]
fn preserved_fds_reach_the_container() {
    let bundle = Bundle::new();
    // SAFETY: plain open of an existing file; the fd is ours and closed below.
    let raw = unsafe { libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) };
    assert!(raw >= 0);
    // SAFETY: dup2 onto an fd number this test reserves for itself.
    assert_eq!(unsafe { libc::dup2(raw, 150) }, 150);
    let spec = bundle.spec(&["sh", "-c", "ls /proc/self/fd > /out/fds"], |_| {});
    let mut req = bundle.request(&spec);
    req.preserve_fds = 148; // fds 3..=150
    let mut container = Container::spawn(req).unwrap();
    container.spawned.wait_exec().unwrap();
    let code = container.wait();
    // SAFETY: closing the two fds this test opened.
    unsafe {
        libc::close(raw);
        libc::close(150);
    }
    assert_eq!(code, 0);
    assert!(bundle
        .read_out("fds")
        .split_whitespace()
        .any(|fd| fd == "150"));
}

#[test]
fn seccomp_step_runs_last_and_hands_its_listener_to_the_parent() {
    for no_new_privileges in [false, true] {
        let bundle = Bundle::new();
        let spec = bundle.spec(&["true"], |s| {
            s["process"]["noNewPrivileges"] = json!(no_new_privileges)
        });
        assert_eq!(seccomp_listener_of(&bundle, &spec), "anon_inode:[eventfd]");
    }
}

/// Spawns with a seccomp step returning an eventfd as its "listener"; returns what the parent got.
fn seccomp_listener_of(bundle: &Bundle, spec: &oci_spec::runtime::Spec) -> String {
    // Stands in for husk-seccomp's Filter::install: returns a "listener" fd made in the child.
    let step = || -> Result<Option<OwnedFd>, String> {
        // SAFETY: eventfd with valid flags; the new fd is owned by the OwnedFd.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        // SAFETY: eventfd returned a new fd that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    let mut received = None;
    let mut on_listener = |fd: OwnedFd| -> Result<(), String> {
        received = Some(std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap());
        Ok(())
    };
    let mut req = bundle.request(spec);
    req.seccomp = Some(&step);
    req.on_seccomp_listener = Some(&mut on_listener);
    let mut container = Container::spawn(req).unwrap();
    container.spawned.wait_exec().unwrap();
    assert_eq!(container.wait(), 0);
    received.unwrap().to_str().unwrap().to_owned()
}

#[test]
fn seccomp_runs_before_the_user_switch_unless_no_new_privileges() {
    let bundle = Bundle::new();
    // The step reports who it ran as: its error is the spawn result.
    let step = || -> Result<Option<OwnedFd>, String> {
        Err(format!("ran as euid {}", nix::unistd::geteuid()))
    };
    for (no_new_privileges, expected) in [(false, "ran as euid 0"), (true, "ran as euid 1000")] {
        let spec = bundle.spec(&["true"], |s| {
            s["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            s["process"]["noNewPrivileges"] = json!(no_new_privileges);
        });
        let mut req = bundle.request(&spec);
        req.seccomp = Some(&step);
        // Before the user switch the failure is a `create` error; right before execve it is
        // the exec result.
        let err = match Container::spawn(req) {
            Err(err) => err,
            Ok(mut container) => {
                let err = container.spawned.wait_exec().unwrap_err();
                assert_eq!(container.wait(), 1);
                err
            }
        };
        assert_eq!(err.to_string(), format!("seccomp: {expected}"));
    }
}

#[test]
fn an_init_that_dies_silently_is_reported_with_its_status() {
    let bundle = Bundle::new();
    // No pid namespace: the init is an ordinary process its hook can SIGKILL.
    let spec = bundle.spec(&["true"], |s| {
        s["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "uts"}]);
        s["hooks"] = json!({"createContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}
        ]});
    });
    let err = Container::spawn(bundle.request(&spec))
        .err()
        .expect("must fail");
    assert_eq!(
        err.to_string(),
        "container init: was killed by SIGKILL without reporting an error"
    );
}

#[test]
fn ambient_capabilities_that_cannot_be_raised_are_skipped_as_runc_does() {
    let bundle = Bundle::new();
    // `runc spec` defaults: ambient without inheritable (the kernel refuses to raise those).
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let code = run_sh(
        &bundle,
        "grep -E '^Cap(Eff|Amb)' /proc/self/status > /out/caps",
        |s| {
            s["process"]["capabilities"] =
                json!({"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps});
        },
    );
    assert_eq!(code, 0);
    // AUDIT_WRITE = bit 29, KILL = bit 5, NET_BIND_SERVICE = bit 10.
    assert_eq!(
        bundle.read_out("caps"),
        "CapEff:\t0000000020000420\nCapAmb:\t0000000000000000\n"
    );
}

/// The parent's work (the runtime's device filter) is done before anything of the container runs:
/// work that takes a while and then leaves a file is seen by the container's process.
#[test]
fn parent_work_is_done_before_the_container_runs() {
    let bundle = Bundle::new();
    let marker = bundle.out.join("work-done");
    let spec = bundle.spec(&["sh", "-c", "cat /out/work-done > /out/seen"], |_| {});
    let mut work = || {
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&marker, "done").map_err(|e| e.to_string())
    };
    let mut req = bundle.request(&spec);
    req.parent_work = Some(ParentWork {
        step: "slow work",
        run: &mut work,
    });
    let mut container = Container::spawn(req).unwrap();
    container.spawned.wait_exec().unwrap();
    assert_eq!(container.wait(), 0);
    assert_eq!(bundle.read_out("seen"), "done");
}

/// A failing parent work fails the spawn in the setup phase, naming its step and saying why.
#[test]
fn failing_parent_work_fails_the_spawn_naming_its_step() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["sh", "-c", "echo ran > /out/ran"], |_| {});
    let mut work = || Err("no filter for you".to_owned());
    let mut req = bundle.request(&spec);
    req.parent_work = Some(ParentWork {
        step: "cgroup device filter",
        run: &mut work,
    });
    let err = Container::spawn(req).err().expect("the work fails");
    assert_eq!(err.phase, Phase::Setup);
    assert_eq!(err.step, "cgroup device filter");
    assert!(err.to_string().contains("no filter for you"), "{err}");
    assert!(!bundle.out.join("ran").exists(), "the container never ran");
}

/// HOME comes from the container's /etc/passwd for the process's uid when env has none; a uid
/// without an entry gets "/"; a HOME in env is kept (runc's behaviour).
#[test]
fn home_is_set_from_the_container_passwd_unless_env_has_one() {
    let bundle = Bundle::new();
    std::fs::write(
        bundle.rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
    )
    .unwrap();
    for (name, uid, env, want) in [
        ("root", 0, json!(["PATH=/bin"]), "/root\n"),
        ("user", 1000, json!(["PATH=/bin"]), "/home/u\n"),
        ("unknown", 4242, json!(["PATH=/bin"]), "/\n"),
        (
            "given",
            1000,
            json!(["PATH=/bin", "HOME=/custom"]),
            "/custom\n",
        ),
    ] {
        let code = run_sh(&bundle, &format!("echo $HOME > /out/{name}"), |s| {
            s["process"]["env"] = env.clone();
            s["process"]["user"] = json!({"uid": uid, "gid": uid});
        });
        assert_eq!(code, 0, "{name}");
        assert_eq!(bundle.read_out(name), want, "{name}");
    }
}
