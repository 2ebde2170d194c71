//! Against the machine's real cgroup2 hierarchy: /sys/fs/cgroup when it is cgroup2 (a private mount
//! namespace, a v2 host or VM), else the hybrid layout's /sys/fs/cgroup/unified. Every cgroup made
//! here is named after the test and the pid, and removed even when an assertion fails.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use husk_cgroup::{Cgroup, CgroupError, Hierarchy};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{
    LinuxBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxResources, LinuxResourcesBuilder,
};

/// Removes the test's cgroup tree on drop, killing whatever is left in it.
struct Scratch {
    hierarchy: Hierarchy,
    top: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let hierarchy = Hierarchy::detect().expect("a cgroup2 hierarchy");
        Scratch {
            hierarchy,
            top: PathBuf::from(format!("/husk-cgroup-test-{}-{test}", std::process::id())),
        }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.top.join(sub)
    }

    fn abs(&self, rel: &Path) -> PathBuf {
        self.hierarchy.root().join(rel.strip_prefix("/").unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Cgroup::open(&self.hierarchy, &self.top).destroy();
    }
}

/// clone(2)'s struct clone_args, up to the cgroup field (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The libc crate's CLONE_INTO_CGROUP does not fit its c_int type; the kernel's value.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Starts a process born in the cgroup behind `cgroup_fd` that runs `child` and exits with its
/// result. `child` runs in a copy of a multi-threaded process: raw syscalls only.
fn spawn_into(cgroup_fd: BorrowedFd, child: fn() -> i32) -> Pid {
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_fd.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: clone3 with a valid, fully initialized clone_args of the size passed and no CLONE_VM:
    // the child gets a copy of the address space and only makes raw syscalls before _exit.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret == 0 {
        let code = child();
        // SAFETY: _exit ends the child without running the parent's atexit handlers or destructors.
        unsafe { libc::_exit(code) };
    }
    assert!(ret > 0, "clone3: {}", Errno::last());
    Pid::from_raw(ret as i32)
}

fn sleep_forever() -> i32 {
    loop {
        // SAFETY: pause(2) has no arguments and no preconditions.
        unsafe { libc::pause() };
    }
}

/// 0 if /dev/null opens for reading, 1 if not; +2 if it opens for writing.
fn probe_dev_null() -> i32 {
    let try_open = |flags| {
        // SAFETY: a NUL-terminated literal path; the fd, if any, is closed right away.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: fd was just returned by open.
            unsafe { libc::close(fd) };
        }
        fd >= 0
    };
    i32::from(!try_open(libc::O_RDONLY)) + 2 * i32::from(try_open(libc::O_WRONLY))
}

fn exit_code(pid: Pid) -> i32 {
    match waitpid(pid, None).unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child {pid}: {other:?}"),
    }
}

#[test]
fn create_move_in_freeze_thaw_destroy_without_resources() {
    let s = Scratch::new("lifecycle");
    let rel = s.path("ctr");
    let cg = Cgroup::create(&s.hierarchy, &rel, None).unwrap();
    assert_eq!(cg.dir(), s.abs(&rel));
    assert!(cg.dir().is_dir());

    let pid = spawn_into(cg.fd().unwrap(), sleep_forever);
    assert_eq!(cg.pids().unwrap(), vec![pid.as_raw()]);
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        proc_cgroup.contains(&format!("0::{}\n", rel.display())),
        "{proc_cgroup}"
    );

    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());

    let stats = cg.stats().unwrap();
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["cpu"]["usage"].get("user").is_some(), "{json}");

    cg.destroy().unwrap();
    assert!(!cg.dir().exists());
    assert_eq!(
        waitpid(pid, None).unwrap(),
        WaitStatus::Signaled(pid, Signal::SIGKILL, false)
    );
    // Gone already: not an error (delete --force).
    cg.destroy().unwrap();
}

#[test]
fn kill_all_sends_other_signals_to_every_pid_in_the_tree() {
    let s = Scratch::new("signal");
    let cg = Cgroup::create(&s.hierarchy, &s.path("ctr"), None).unwrap();
    let fd = cg.fd().unwrap();
    let outer = spawn_into(fd, sleep_forever);
    // A child cgroup under a populated one: enabling controllers in "ctr" fails (no internal
    // processes), which is fine as nothing is asked of them.
    let inner = Cgroup::create(&s.hierarchy, &s.path("ctr/inner"), None).unwrap();
    let pids = [outer, spawn_into(inner.fd().unwrap(), sleep_forever)];
    cg.kill_all(libc::SIGTERM).unwrap();
    for pid in pids {
        assert_eq!(
            waitpid(pid, None).unwrap(),
            WaitStatus::Signaled(pid, Signal::SIGTERM, false)
        );
    }
    cg.destroy().unwrap();
}

#[test]
fn destroy_removes_child_cgroups_first() {
    let s = Scratch::new("nested");
    let cg = Cgroup::create(&s.hierarchy, &s.path("ctr"), None).unwrap();
    Cgroup::create(&s.hierarchy, &s.path("ctr/inner/deeper"), None).unwrap();
    cg.destroy().unwrap();
    assert!(!cg.dir().exists());
}

fn memory_limit() -> LinuxResources {
    let memory = LinuxMemoryBuilder::default()
        .limit(64i64 << 20)
        .build()
        .unwrap();
    LinuxResourcesBuilder::default()
        .memory(memory)
        .build()
        .unwrap()
}

#[test]
fn memory_limit_needs_the_memory_controller() {
    let s = Scratch::new("memory");
    let rel = s.path("ctr");
    let controllers =
        std::fs::read_to_string(s.hierarchy.root().join("cgroup.controllers")).unwrap();
    let result = Cgroup::create(&s.hierarchy, &rel, Some(&memory_limit()));
    if controllers.split_whitespace().any(|c| c == "memory") {
        let cg = result.unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.dir().join("memory.max")).unwrap(),
            "67108864\n"
        );
    } else {
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cgroup: memory limit requested but the memory controller is not available in {}",
                s.hierarchy.root().display()
            )
        );
        assert!(!s.abs(&s.top).exists(), "nothing is left behind");
    }
}

#[test]
fn a_failing_write_removes_the_levels_it_made() {
    let s = Scratch::new("rollback");
    let unified =
        std::collections::HashMap::from([("cgroup.no_such_file".to_owned(), "1".to_owned())]);
    let res = LinuxResourcesBuilder::default()
        .unified(unified)
        .build()
        .unwrap();
    let err = Cgroup::create(&s.hierarchy, &s.path("a/b"), Some(&res)).unwrap_err();
    assert!(matches!(&err, CgroupError::Write { .. }), "{err}");
    assert_eq!(err.errno(), Some(Errno::ENOENT));
    assert!(!s.abs(&s.top).exists());
}

fn device_rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().unwrap()
}

fn devices(rules: Vec<LinuxDeviceCgroup>) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .devices(rules)
        .build()
        .unwrap()
}

/// create (the resource files) then install_devices (the filter), as the runtime does.
fn create_with_devices(s: &Scratch, rel: &Path, rules: Vec<LinuxDeviceCgroup>) -> Cgroup {
    let resources = devices(rules);
    let cg = Cgroup::create(&s.hierarchy, rel, Some(&resources)).unwrap();
    cg.install_devices(&resources).unwrap();
    cg
}

#[test]
fn device_rules_are_enforced_and_replaced() {
    let s = Scratch::new("devices");
    let rel = s.path("ctr");
    let deny_all = device_rule(false, LinuxDeviceType::A, None, None, "rwm");
    let null_read_only = device_rule(true, LinuxDeviceType::C, Some(1), Some(3), "r");

    // create alone writes no device filter: the runtime installs it while the init sets up.
    let resources = devices(vec![deny_all.clone(), null_read_only]);
    let cg = Cgroup::create(&s.hierarchy, &rel, Some(&resources)).unwrap();
    let pid = spawn_into(cg.fd().unwrap(), probe_dev_null);
    assert_eq!(exit_code(pid), 2, "no filter yet: read and write allowed");
    cg.install_devices(&resources).unwrap();
    let pid = spawn_into(cg.fd().unwrap(), probe_dev_null);
    assert_eq!(exit_code(pid), 0, "read allowed, write denied");

    // Again on the existing cgroup: the new program replaces the old one (with ALLOW_MULTI both
    // would have to allow, so a write succeeds only if the first program is gone).
    let null_rw = device_rule(true, LinuxDeviceType::C, Some(1), Some(3), "rw");
    let cg = create_with_devices(&s, &rel, vec![deny_all.clone(), null_rw]);
    let pid = spawn_into(cg.fd().unwrap(), probe_dev_null);
    assert_eq!(exit_code(pid), 2, "read and write allowed");

    // runc's defaults after a deny-all: /dev/null is usable again.
    let linux = LinuxBuilder::default()
        .resources(devices(vec![deny_all.clone()]))
        .build()
        .unwrap();
    let cg = create_with_devices(&s, &rel, husk_cgroup::device_rules(&linux));
    let pid = spawn_into(cg.fd().unwrap(), probe_dev_null);
    assert_eq!(exit_code(pid), 2, "the default allow list covers /dev/null");

    // Deny everything: not even a read.
    let cg = create_with_devices(&s, &rel, vec![deny_all]);
    let pid = spawn_into(cg.fd().unwrap(), probe_dev_null);
    assert_eq!(exit_code(pid), 1);
    cg.destroy().unwrap();
}
