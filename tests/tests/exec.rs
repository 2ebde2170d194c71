//! `husk exec` into a running container, through the husk binary, as the engines call it:
//! command-line and process.json forms, detached with a pid file, foreground with the exit status,
//! the tty husk owns (a real pseudo-terminal as husk's stdio), and runc's failure convention (exit
//! 255 with one message, the container untouched).

use std::fs;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use husk_tests::pty::read_until;
use husk_tests::scm::accept_message;
use husk_tests::{husk_bin, reaper, wait_until, Bundle, Husk};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::WaitStatus;
use serde_json::json;

/// A started `sleep 1000` container; returns its id and init pid.
fn running(husk: &Husk, bundle: &Bundle, name: &str) -> (String, i32) {
    let id = husk.new_id(name);
    husk.create(&id, bundle, &[]).assert_ok();
    husk.start(&id).assert_ok();
    let pid = husk.wait_status(&id, "running")["pid"]
        .as_i64()
        .expect("pid") as i32;
    (id, pid)
}

fn sleeper() -> Bundle {
    Bundle::busybox(&["sleep", "1000"])
}

fn link(path: String) -> String {
    fs::read_link(&path)
        .unwrap_or_else(|e| panic!("readlink {path}: {e}"))
        .display()
        .to_string()
}

#[test]
fn output_and_exit_codes_come_from_the_process() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, _) = running(&husk, &bundle, "exec-echo");
    let out = husk.cmd(&["exec", &id, "echo", "hi"]);
    out.assert_ok();
    assert_eq!(out.stdout, "hi\n");
    let out = husk.cmd(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(out.code(), Some(5), "{}", out.describe());
    let out = husk.cmd(&["exec", &id, "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.code(), Some(128 + libc::SIGTERM), "{}", out.describe());
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn process_json_sets_user_cwd_env_and_capabilities() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, _) = running(&husk, &bundle, "exec-process");
    let kill = json!(["CAP_KILL"]);
    let process = json!({
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
        "args": ["sh", "-c",
                 "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd)' /proc/self/status; pwd; echo $FOO"],
        "env": ["PATH=/bin", "FOO=bar"],
        "cwd": "/tmp",
        "capabilities": {"bounding": kill, "effective": kill, "permitted": kill,
                         "inheritable": kill, "ambient": kill}
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("process.json");
    fs::write(&path, process.to_string()).expect("write process.json");
    let out = husk
        .invoke()
        .args(&["exec", "--process", path.to_str().expect("utf-8"), &id])
        .output();
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t10 \n\
         CapEff:\t0000000000000020\nCapBnd:\t0000000000000020\n/tmp\nbar\n"
    );
}

#[test]
fn the_container_seccomp_profile_applies_to_exec() {
    let husk = Husk::new();
    let mut bundle = sleeper();
    bundle.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 1}]
        })
    });
    let (id, _) = running(&husk, &bundle, "exec-seccomp");
    let out = husk.cmd(&["exec", &id, "sh", "-c", "mkdir /tmp/x || echo refused"]);
    out.assert_ok();
    assert_eq!(out.stdout, "refused\n", "{}", out.describe());
    let out = husk.cmd(&["exec", &id, "grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(out.stdout, "Seccomp:\t2\n", "{}", out.describe());
}

/// Profiles that refuse what husk-dmz needs: execveat (it is started with it) or fcntl (it makes
/// the sync fd close-on-exec with it; with noNewPrivileges off the filter is in place before
/// husk's own fcntl too), with an errno, or that would kill it (then husk does not use it). The
/// init and exec'd processes still run, and exec errors found before the exec still come back.
#[test]
fn profiles_without_execveat_or_fcntl_still_run_the_processes() {
    let husk = Husk::new();
    for (syscall, action, no_new_privs) in [
        ("execveat", "SCMP_ACT_ERRNO", true),
        ("execveat", "SCMP_ACT_ERRNO", false),
        ("fcntl", "SCMP_ACT_ERRNO", true),
        ("fcntl", "SCMP_ACT_ERRNO", false),
        ("execveat", "SCMP_ACT_KILL_PROCESS", true),
        ("fcntl", "SCMP_ACT_KILL", true),
    ] {
        let mut bundle = sleeper();
        bundle.edit(|c| {
            c["process"]["noNewPrivileges"] = json!(no_new_privs);
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": [syscall], "action": action, "errnoRet": 1}]
            })
        });
        let (id, _) = running(&husk, &bundle, "exec-profile");
        let out = husk.cmd(&["exec", &id, "echo", "hi"]);
        out.assert_ok();
        assert_eq!(
            out.stdout,
            "hi\n",
            "{syscall} {action} {no_new_privs}: {}",
            out.describe()
        );
        husk.cmd(&["exec", &id, "/bin/nosuch"])
            .assert_fails_with(r#"exec "/bin/nosuch": no such file or directory"#);
        husk.cmd(&["delete", "--force", &id]).assert_ok();
        husk.assert_nothing_left(&id, &bundle);
    }
}

/// Accepts one agent connection and returns the message's JSON and how many fds came with it.
fn receive_listener(listener: &UnixListener) -> (serde_json::Value, usize) {
    let mut ready = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let waited = poll(&mut ready, PollTimeout::from(10_000u16)).expect("poll the agent socket");
    assert_eq!(waited, 1, "the runtime never connected to the agent");
    let (data, fds) = accept_message(listener);
    let doc = serde_json::from_slice(&data).expect("the process state is JSON");
    (doc, fds.len())
}

#[test]
fn seccomp_notify_listeners_reach_the_agent_from_start_and_from_exec() {
    let husk = Husk::new();
    let mut bundle = sleeper();
    let agent_dir = tempfile::tempdir().expect("tempdir");
    let agent_path = agent_dir.path().join("agent.sock");
    let agent = UnixListener::bind(&agent_path).expect("bind the agent socket");
    bundle.edit(|c| {
        // noNewPrivileges: the init installs its filter after the start gate, so `start` (not
        // `create`) receives the listener and forwards it.
        c["process"]["noNewPrivileges"] = json!(true);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": agent_path,
            "syscalls": [{"names": ["mknodat"], "action": "SCMP_ACT_NOTIFY"}]
        })
    });
    let id = husk.new_id("exec-notify");
    husk.create(&id, &bundle, &[]).assert_ok();
    let (started, (doc, fds)) = std::thread::scope(|s| {
        let receiver = s.spawn(|| receive_listener(&agent));
        (husk.start(&id), receiver.join().expect("agent thread"))
    });
    started.assert_ok();
    assert_eq!(fds, 1);
    let init = husk.state(&id)["pid"].clone();
    assert_eq!(doc["state"]["pid"], init);
    assert_eq!(doc["fds"], json!(["seccompFd"]));
    let (out, (doc, fds)) = std::thread::scope(|s| {
        let receiver = s.spawn(|| receive_listener(&agent));
        let out = husk.cmd(&["exec", &id, "true"]);
        (out, receiver.join().expect("agent thread"))
    });
    out.assert_ok();
    assert_eq!(fds, 1);
    assert_eq!(doc["state"]["id"], json!(id));
}

#[test]
fn detached_process_is_in_the_container_pid_namespace_and_cgroup() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, init) = running(&husk, &bundle, "exec-detach");
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("exec.pid");
    husk.invoke()
        .args(&["exec", "--detach", "--pid-file"])
        .arg(&pid_file)
        .args(&[&id, "sleep", "1000"])
        .output()
        .assert_ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("read the pid file")
        .parse()
        .expect("a pid");
    assert_ne!(pid, init);
    for ns in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        assert_eq!(
            link(format!("/proc/{pid}/ns/{ns}")),
            link(format!("/proc/{init}/ns/{ns}")),
            "{ns} namespace"
        );
    }
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    assert!(cgroup.ends_with(&format!("0::/{id}\n")), "{cgroup:?}");
    // husk exited: the process was re-parented to this test process (a subreaper, like the shim).
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let ppid: u32 = stat[stat.rfind(')').expect(")") + 4..]
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("ppid");
    assert_eq!(ppid, std::process::id());
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    assert!(
        reaper::wait_exit(pid, Duration::from_secs(10)).is_some(),
        "the exec'd sleep outlived its container"
    );
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn cgroup_flag_places_the_process_in_a_sub_cgroup() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, _) = running(&husk, &bundle, "exec-subcgroup");
    let sub = Path::new("/sys/fs/cgroup").join(&id).join("probe");
    fs::create_dir(&sub).expect("mkdir the sub-cgroup");
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("exec.pid");
    let out = husk
        .invoke()
        .args(&["exec", "-d", "--cgroup", "probe", "--pid-file"])
        .arg(&pid_file)
        .args(&[&id, "sleep", "1000"])
        .output();
    if out.success() {
        let pid: i32 = fs::read_to_string(&pid_file)
            .expect("pid file")
            .parse()
            .expect("pid");
        let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        reaper::wait_exit(pid, Duration::from_secs(10)).expect("the sleep ends");
        assert!(cgroup.ends_with(&format!("0::/{id}/probe\n")), "{cgroup:?}");
    }
    fs::remove_dir(&sub).expect("rmdir the sub-cgroup");
    out.assert_ok();
    let out = husk.cmd(&["exec", "--cgroup", "../escape", &id, "true"]);
    out.assert_fails_with("invalid --cgroup argument: ../escape");
    assert_eq!(out.code(), Some(255));
}

#[test]
fn preserve_fds_passes_fd_3_and_nothing_else_leaks() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, _) = running(&husk, &bundle, "exec-fds");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("preserved");
    fs::write(&path, "preserved\n").expect("write");
    let file = fs::File::open(&path).expect("open");
    let read_fd_3 = ["exec", "--preserve-fds", "1", &id, "sh", "-c", "cat <&3"];
    let out = husk.invoke().args(&read_fd_3).pass_fd(&file, 3).output();
    out.assert_ok();
    assert_eq!(out.stdout, "preserved\n");
    // Without --preserve-fds the same fd is closed at exec.
    let out = husk
        .invoke()
        .args(&["exec", &id, "sh", "-c", "cat <&3"])
        .pass_fd(&file, 3)
        .output();
    assert_ne!(out.code(), Some(0), "{}", out.describe());
}

#[test]
fn exec_into_a_stopped_container_fails_with_255() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["true"]);
    let id = husk.new_id("exec-stopped");
    husk.create(&id, &bundle, &[]).assert_ok();
    husk.start(&id).assert_ok();
    husk.wait_status(&id, "stopped");
    let out = husk.cmd(&["exec", &id, "true"]);
    out.assert_fails_with("exec failed: cannot exec in a stopped container");
    assert_eq!(out.code(), Some(255));
    let out = husk.cmd(&["exec", "no-such-container", "true"]);
    out.assert_fails_with("container does not exist");
    assert_eq!(out.code(), Some(255));
}

#[test]
fn a_missing_binary_fails_with_255_and_the_container_keeps_running() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, init) = running(&husk, &bundle, "exec-missing");
    let out = husk.cmd(&["exec", &id, "nosuch"]);
    out.assert_fails_with("executable file not found in $PATH");
    assert_eq!(out.code(), Some(255));
    let out = husk.cmd(&["exec", &id, "/bin/nosuch"]);
    out.assert_fails_with("no such file or directory");
    assert_eq!(out.code(), Some(255));
    let state = husk.state(&id);
    assert_eq!(state["status"], "running");
    assert_eq!(state["pid"], init);
    husk.cmd(&["exec", &id, "true"]).assert_ok();
}

/// What a container and this mount namespace hold, to compare before and after many execs.
fn footprint(init: i32, id: &str) -> (usize, String, usize, usize) {
    let count = |dir: String| fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    let procs =
        fs::read_to_string(format!("/sys/fs/cgroup/{id}/cgroup.procs")).expect("read cgroup.procs");
    let mounts = |pid: &str| {
        fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .expect("read mountinfo")
            .lines()
            .count()
    };
    (
        count(format!("/proc/{init}/fd")),
        procs,
        mounts(&init.to_string()),
        mounts("self"),
    )
}

#[test]
fn fifty_execs_leave_no_process_fd_or_mount_behind() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, init) = running(&husk, &bundle, "exec-fifty");
    let before = footprint(init, &id);
    for _ in 0..50 {
        husk.cmd(&["exec", &id, "true"]).assert_ok();
    }
    assert_eq!(footprint(init, &id), before);
    // Nothing else holds the container's pty devices or namespaces: ps in the container sees
    // only the init and itself.
    let out = husk.cmd(&["exec", &id, "ls", "/proc"]);
    out.assert_ok();
    let pids: Vec<&str> = out
        .stdout
        .split_whitespace()
        .filter(|e| e.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(pids.len(), 2, "processes in the container: {pids:?}");
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer.
    assert_eq!(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) }, 0);
}

#[test]
fn foreground_tty_proxies_a_real_terminal_with_resizes_and_the_exit_code() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, _) = running(&husk, &bundle, "exec-tty");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    set_size(pty.master.as_raw_fd(), 24, 80);
    let mut cmd = Command::new(husk_bin());
    cmd.arg("--root")
        .arg(husk.root())
        .args(["exec", "-t", &id, "sh"])
        .stdin(pty.slave.try_clone().expect("dup slave"))
        .stdout(pty.slave.try_clone().expect("dup slave"))
        .stderr(pty.slave.try_clone().expect("dup slave"));
    // SAFETY: runs in the forked child before exec; setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // The pty becomes husk's controlling terminal, as a person's shell would have it: the
            // kernel then sends SIGWINCH to husk when the window changes.
            if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let pid = reaper::spawn(&mut cmd).expect("spawn husk exec -t");
    drop(pty.slave);
    drop(cmd);
    let master = pty.master;
    let mut seen = Vec::new();
    nix::unistd::write(&master, b"stty size\n").expect("write");
    assert!(
        read_until(&master, "24 80", &mut seen, Duration::from_secs(10)),
        "initial size: {:?}",
        String::from_utf8_lossy(&seen)
    );
    set_size(master.as_raw_fd(), 30, 100);
    let resized = wait_until(Duration::from_secs(5), || {
        nix::unistd::write(&master, b"stty size\n").expect("write");
        read_until(&master, "30 100", &mut seen, Duration::from_millis(200))
    });
    assert!(
        resized,
        "after resize: {:?}",
        String::from_utf8_lossy(&seen)
    );
    nix::unistd::write(&master, b"exit 7\n").expect("write");
    read_until(&master, "never", &mut seen, Duration::from_secs(5));
    let status = reaper::wait_exit(pid, Duration::from_secs(10));
    assert!(
        matches!(status, Some(WaitStatus::Exited(_, 7))),
        "husk exec -t: {status:?}, output {:?}",
        String::from_utf8_lossy(&seen)
    );
}

#[test]
fn console_socket_gets_the_exec_pty_master() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, _) = running(&husk, &bundle, "exec-console");
    let sockets = tempfile::tempdir().expect("tempdir");
    let socket_path = sockets.path().join("console.sock");
    let listener = UnixListener::bind(&socket_path).expect("bind console socket");
    let receiver = std::thread::spawn(move || accept_message(&listener));
    husk.invoke()
        .args(&["exec", "-t", "--detach", "--console-socket"])
        .arg(&socket_path)
        .args(&[&id, "sh", "-c", "test -t 0 && echo tty-ok; sleep 1"])
        .output()
        .assert_ok();
    let (data, fds) = receiver.join().expect("receiver");
    assert!(!data.is_empty());
    assert_eq!(fds.len(), 1);
    let mut seen = Vec::new();
    assert!(
        read_until(&fds[0], "tty-ok", &mut seen, Duration::from_secs(10)),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    // A tty without a console socket cannot detach.
    husk.cmd(&["exec", "-t", "-d", &id, "true"])
        .assert_fails_with(
            "cannot allocate tty if husk will detach without setting console socket",
        );
}

#[test]
fn paused_container_refuses_exec_unless_ignore_paused() {
    let husk = Husk::new();
    let bundle = sleeper();
    let (id, _) = running(&husk, &bundle, "exec-paused");
    husk.cmd(&["pause", &id]).assert_ok();
    let out = husk.cmd(&["exec", &id, "true"]);
    out.assert_fails_with(
        "exec failed: cannot exec in a paused container (use --ignore-paused to override)",
    );
    assert_eq!(out.code(), Some(255));
    // With --ignore-paused the process starts frozen and runs once the container is resumed.
    let resumer = std::thread::scope(|s| {
        let exec = s.spawn(|| husk.cmd(&["exec", "--ignore-paused", &id, "echo", "ok"]));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!exec.is_finished(), "exec ran in a frozen cgroup");
        husk.cmd(&["resume", &id]).assert_ok();
        exec.join().expect("exec thread")
    });
    resumer.assert_ok();
    assert_eq!(resumer.stdout, "ok\n");
    assert!(Path::new(&format!("/sys/fs/cgroup/{id}")).exists());
}

/// CVE-2019-5736: a container process that execs `/proc/self/exe` (directly or as a script's
/// interpreter) gets husk-dmz, the sealed 740-byte trampoline, never the host's husk binary, which
/// it could otherwise reopen through /proc/<pid>/exe and overwrite once husk exited. The
/// trampoline run that way exits 1 at once.
#[test]
fn the_container_never_gets_husks_binary_as_proc_self_exe() {
    let husk = Husk::new();
    let mut bundle = sleeper();
    let script = bundle.rootfs().join("evil");
    fs::write(&script, "#!/proc/self/exe --version\n").unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (id, _) = running(&husk, &bundle, "exec-exe");
    for args in [&["/proc/self/exe", "--version"][..], &["/evil"][..]] {
        let mut argv = vec!["exec", id.as_str()];
        argv.extend_from_slice(args);
        let out = husk.cmd(&argv);
        assert_eq!(out.code(), Some(1), "{args:?}: {}", out.describe());
        assert!(!out.stdout.contains("husk"), "{args:?}: {}", out.describe());
    }
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);

    // The same as the container's own process.
    bundle.edit(|c| c["process"]["args"] = json!(["/evil"]));
    let id = husk.new_id("init-exe");
    let out = husk.run(&id, &bundle);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(!out.stdout.contains("husk"), "{}", out.describe());
    husk.assert_nothing_left(&id, &bundle);
}
