//! The compiled programs in the real kernel: a forked child installs the filter (root holds
//! CAP_SYS_ADMIN, so no no_new_privs is needed) and makes real syscalls.

mod common;

use husk_seccomp::{compile, Filter};
use oci_spec::runtime::LinuxSeccomp;

/// Runs `check` in a forked child after installing `filter`; the child's exit code is `check`'s
/// result (0 = pass), 100 + errno when install fails.
fn in_child(filter: &Filter, check: impl Fn(Option<i32>) -> i32) -> i32 {
    // SAFETY: the child only makes raw syscalls through libc and leaves with _exit, so the
    // test harness's other threads (absent in the child) hold nothing it needs.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match filter.install() {
            Ok(listener) => {
                let fd = listener.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
                check(fd)
            }
            Err(e) => 100 + e.raw_os_error().unwrap_or(0),
        };
        // SAFETY: ends the child without running the parent's atexit handlers or destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child killed: status {status:#x}");
    libc::WEXITSTATUS(status)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

#[test]
fn denied_mkdir_fails_with_eperm_and_the_rest_works() {
    let filter = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    let dir =
        std::ffi::CString::new(format!("/tmp/husk-seccomp-mkdir-{}", std::process::id())).unwrap();
    let code = in_child(&filter, |_| {
        // SAFETY: valid NUL-terminated path.
        let rc = unsafe { libc::mkdir(dir.as_ptr(), 0o700) };
        if rc != -1 {
            return 1;
        }
        if errno() != libc::EPERM {
            return 2;
        }
        // SAFETY: getpid has no preconditions.
        if unsafe { libc::getpid() } <= 0 {
            return 3;
        }
        0
    });
    assert_eq!(code, 0);
    assert!(!std::path::Path::new(dir.to_str().unwrap()).exists());
}

#[test]
fn docker_profile_in_the_kernel() {
    let filter = compile(&common::docker_profile()).unwrap();
    let code = in_child(&filter, |_| {
        // clone3 is answered with ENOSYS (errnoRet 38) so libcs fall back to clone.
        // SAFETY: clone3 with a null args pointer never creates a process.
        let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
        if rc != -1 || errno() != libc::ENOSYS {
            return 1;
        }
        // personality(0xffffffff) only queries the persona: allowed.
        // SAFETY: querying the persona changes nothing.
        let persona = unsafe { libc::personality(0xffff_ffff) };
        if persona == -1 {
            return 2;
        }
        // Any other persona is denied with the default EPERM.
        // SAFETY: the filter denies the call before it changes anything.
        let rc = unsafe { libc::personality(0x0040_0000) };
        if rc != -1 || errno() != libc::EPERM {
            return 3;
        }
        // A syscall the profile does not list: default action ERRNO(EPERM).
        // SAFETY: the filter denies the call.
        let rc = unsafe { libc::syscall(libc::SYS_kexec_file_load, -1, -1, 0, 0, 0) };
        if rc != -1 || errno() != libc::EPERM {
            return 4;
        }
        // socket(AF_VSOCK = 40) is excluded by the profile's three socket rules, AF_UNIX allowed.
        // SAFETY: plain socket creation.
        let rc = unsafe { libc::socket(40, libc::SOCK_STREAM, 0) };
        if rc != -1 || errno() != libc::EPERM {
            return 5;
        }
        // SAFETY: plain socket creation.
        if unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) } < 0 {
            return 6;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn notify_returns_a_listener_and_flags_are_accepted() {
    let filter = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                      "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    ))
    .unwrap();
    assert!(filter.has_listener());
    assert_eq!(
        filter.flags(),
        libc::SECCOMP_FILTER_FLAG_TSYNC
            | libc::SECCOMP_FILTER_FLAG_LOG
            | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    );
    let code = in_child(&filter, |listener| {
        let Some(fd) = listener else { return 1 };
        // The listener is a real descriptor (anon inode [seccomp notify]).
        // SAFETY: F_GETFD on a descriptor we own.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return 2;
        }
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn flags_without_notify_install_and_give_no_listener() {
    let filter = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]}"#,
    ))
    .unwrap();
    assert_eq!(filter.flags(), libc::SECCOMP_FILTER_FLAG_LOG);
    assert_eq!(
        in_child(&filter, |listener| i32::from(listener.is_some())),
        0
    );
}

/// A program long enough to need JA trampolines is accepted by the kernel and decides exactly:
/// every x86_64 syscall returns ERRNO(its number) when arg1 == nr << 32 | 7.
#[test]
fn kernel_accepts_programs_with_trampolines() {
    let rules: Vec<serde_json::Value> = (0..470)
        .filter_map(|nr| common::libseccomp_name(nr, libseccomp::ScmpArch::X8664).map(|n| (nr, n)))
        .map(|(nr, name)| {
            serde_json::json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": nr,
                "args": [{"index": 1, "value": u64::from(nr) << 32 | 7, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let filter = compile(
        &serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules
        }))
        .unwrap(),
    )
    .unwrap();
    let ja = (libc::BPF_JMP | libc::BPF_JA) as u16;
    assert!(filter.instructions().iter().any(|i| i.code == ja));
    let code = in_child(&filter, |_| {
        let getpid = libc::SYS_getpid as u64;
        // SAFETY: getpid ignores its arguments.
        let rc = unsafe { libc::syscall(libc::SYS_getpid, 0, getpid << 32 | 7) };
        if rc != -1 || errno() != getpid as i32 {
            return 1;
        }
        // SAFETY: as above; the argument differs in its high word only.
        if unsafe { libc::syscall(libc::SYS_getpid, 0, 7) } <= 0 {
            return 2;
        }
        0
    });
    assert_eq!(code, 0);
}
