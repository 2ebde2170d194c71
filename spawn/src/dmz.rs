//! husk-dmz: the container process is exec'd through a tiny trampoline in a sealed memfd, never
//! straight from husk's own image (CVE-2019-5736).
//!
//! husk does not re-exec itself: the child that sets up the container is a fork of husk, so its
//! `/proc/self/exe` is the host's husk binary. If the container's entrypoint (or an `exec`'d
//! command) were a script starting with `#!/proc/self/exe`, the kernel would run husk's binary as
//! a container process; another container process could open `/proc/<pid>/exe`, wait for every
//! husk process to exit and write through that fd: the host's husk replaced by the container.
//! Through the trampoline, `/proc/self/exe` at the final execve is the memfd: sealed against
//! writes, private to this start, about 740 bytes (spawn/dmz/dmz.c, built by build.rs), so no
//! copy of husk's 3 MB binary per container (runc's runc-dmz is the same idea). The cost: one
//! memfd_create, one write, three fcntl and a prctl per start, and one extra execve of a
//! 740-byte static program; no difference in `run` time beyond the noise (README, Performance).
//!
//! Protocol (dmz.c): argv = [sync fd, error prefix, error suffix, path, argv...]. The trampoline
//! makes the sync fd close-on-exec and execs path; if that fails it writes prefix + errno +
//! suffix, which is exactly the [`Message::Error`] the child would have sent. The container's
//! seccomp filter is in place by then: a profile without fcntl makes it close the sync fd
//! instead (an execve error then goes unreported, the exit status says 1), one without execveat
//! makes the child exec directly (`exec::Route`). A profile that does not allow every one of the
//! trampoline's own system calls gets the direct exec from the start ([`fits`]), as does a kernel
//! or an rlimit that refuses the memfd ([`Trampoline::load`]): protection off for it rather than a container
//! that cannot start (the child has no channel for a warning). The trampoline's first call makes
//! it non-dumpable again (exec reset that), so that other container processes cannot open the
//! sync socket through /proc/<pid>/fd during its few microseconds.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use crate::channel::Message;
use crate::error::{Phase, SpawnError};

static DMZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/husk-dmz"));

/// Every system call husk-dmz makes, husk's execveat of it included.
const DMZ_SYSCALLS: [&str; 7] = [
    "execveat",
    "prctl",
    "fcntl",
    "execve",
    "close",
    "writev",
    "exit_group",
];

/// Whether the container's seccomp profile allows every system call of the trampoline: each one
/// is named only by rules that allow it (one of them without argument conditions), or by none and
/// the default action allows it. An errno is not enough: a refused fcntl (or one "succeeding"
/// with errnoRet 0) would leave the sync socket open in the container.
pub(crate) fn fits(profile: Option<&LinuxSeccomp>) -> bool {
    let allows = |action: LinuxSeccompAction| {
        matches!(
            action,
            LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
        )
    };
    let Some(profile) = profile else {
        return true;
    };
    let rules = profile.syscalls().as_deref().unwrap_or_default();
    DMZ_SYSCALLS.iter().all(|syscall| {
        let naming: Vec<_> = rules
            .iter()
            .filter(|rule| rule.names().iter().any(|name| name == syscall))
            .collect();
        if naming.is_empty() {
            return allows(profile.default_action());
        }
        naming.iter().all(|rule| allows(rule.action()))
            && naming
                .iter()
                .any(|rule| rule.args().as_deref().unwrap_or_default().is_empty())
    })
}

/// memfd_create(2): executable (Linux >= 6.3 asks for it explicitly; older kernels reject the
/// flag, and their memfds are executable anyway).
const MFD_EXEC: libc::c_uint = 0x0010;

/// The trampoline loaded for one execve, with the error message it sends if that fails.
pub(crate) struct Trampoline {
    memfd: OwnedFd,
    /// `Message::Error` for the exec step, split where the errno goes.
    error_prefix: CString,
    error_suffix: CString,
}

impl Trampoline {
    /// Loads the trampoline for the exec step `step`. None when the kernel refuses it (no
    /// executable memfd with vm.memfd_noexec = 2, no memfd at all, RLIMIT_NOFILE reached): the
    /// exec is then direct.
    pub(crate) fn load(step: &str) -> Option<Trampoline> {
        let create = |flags: libc::c_uint| {
            // SAFETY: the name is a NUL-terminated literal; flags are plain bits.
            let fd = unsafe { libc::memfd_create(c"husk-dmz".as_ptr(), flags) };
            // SAFETY: a new fd that nothing else owns.
            Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        let memfd = match create(base | MFD_EXEC) {
            Err(Errno::EINVAL) => create(base),
            other => other,
        };
        let memfd = memfd.ok()?;
        if nix::unistd::write(memfd.as_fd(), DMZ).ok()? != DMZ.len() {
            return None;
        }
        let seals = SealFlag::F_SEAL_SEAL
            | SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE;
        fcntl(memfd.as_fd(), FcntlArg::F_ADD_SEALS(seals)).ok()?;
        let (error_prefix, error_suffix) = error_template(step);
        Some(Trampoline {
            memfd,
            error_prefix,
            error_suffix,
        })
    }

    /// execveat(2) of the trampoline; returns only on failure. `sync` must stay open across this
    /// exec (the trampoline closes it on its own).
    pub(crate) fn exec(
        &self,
        sync: BorrowedFd<'_>,
        path: &CString,
        argv: &[CString],
        envp: &[CString],
    ) -> Errno {
        let sync_fd = CString::new(sync.as_raw_fd().to_string()).expect("digits only");
        let mut args: Vec<*const libc::c_char> = Vec::with_capacity(argv.len() + 5);
        args.extend([
            sync_fd.as_ptr(),
            self.error_prefix.as_ptr(),
            self.error_suffix.as_ptr(),
            path.as_ptr(),
        ]);
        args.extend(argv.iter().map(|a| a.as_ptr()));
        args.push(std::ptr::null());
        let mut env: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
        env.push(std::ptr::null());
        // SAFETY: every pointer is a NUL-terminated string that outlives the call, both arrays
        // end with NULL, and "" with AT_EMPTY_PATH execs the fd itself (execveat(2)).
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                self.memfd.as_raw_fd(),
                c"".as_ptr(),
                args.as_ptr(),
                env.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
        }
        Errno::last()
    }
}

/// The trampoline's error prefix and suffix for an exec failure of `step`: the JSON of
/// `Message::Error` split where the errno goes.
fn error_template(step: &str) -> (CString, CString) {
    const SENTINEL: i32 = 987_654_321;
    let message = Message::Error(SpawnError {
        phase: Phase::Exec,
        step: step.to_owned(),
        errno: SENTINEL,
        detail: None,
    });
    let json = serde_json::to_string(&message).expect("channel messages always serialize");
    // The errno follows the step in the JSON: the last occurrence is the field.
    let at = json
        .rfind(&SENTINEL.to_string())
        .expect("the sentinel is in the JSON");
    let (prefix, rest) = json.split_at(at);
    let suffix = &rest[SENTINEL.to_string().len()..];
    // JSON escapes NUL, so neither part contains one.
    (
        CString::new(prefix).expect("no NUL in JSON"),
        CString::new(suffix).expect("no NUL in JSON"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompBuilder, LinuxSyscallBuilder};

    fn profile(
        default: LinuxSeccompAction,
        rule: Option<(&str, LinuxSeccompAction)>,
    ) -> LinuxSeccomp {
        let mut b = LinuxSeccompBuilder::default().default_action(default);
        if let Some((name, action)) = rule {
            b = b.syscalls(vec![LinuxSyscallBuilder::default()
                .names(vec![name.to_owned()])
                .action(action)
                .build()
                .unwrap()]);
        }
        b.build().unwrap()
    }

    #[test]
    fn the_trampoline_runs_unless_the_profile_would_stop_its_calls() {
        use LinuxSeccompAction::*;
        assert!(fits(None));
        for (default, rule, expected) in [
            (ScmpActAllow, None, true),
            (ScmpActLog, None, true),
            (ScmpActErrno, None, false),
            (ScmpActKill, None, false),
            (ScmpActKillProcess, None, false),
            (ScmpActTrap, None, false),
            (ScmpActNotify, None, false),
            (ScmpActTrace, None, false),
            (ScmpActAllow, Some(("read", ScmpActKill)), true),
            (ScmpActAllow, Some(("execveat", ScmpActKillProcess)), false),
            (ScmpActAllow, Some(("fcntl", ScmpActErrno)), false),
            (ScmpActAllow, Some(("writev", ScmpActTrap)), false),
            (ScmpActAllow, Some(("prctl", ScmpActNotify)), false),
            // An allowlist that names only some of them: the default decides the rest.
            (ScmpActKill, Some(("execveat", ScmpActAllow)), false),
        ] {
            assert_eq!(
                fits(Some(&profile(default, rule))),
                expected,
                "{default:?} {rule:?}"
            );
        }
    }

    #[test]
    fn an_allowlist_naming_every_call_unconditionally_fits() {
        let rule = |names: &[&str]| {
            LinuxSyscallBuilder::default()
                .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .action(LinuxSeccompAction::ScmpActAllow)
                .build()
                .unwrap()
        };
        let strict = |rules| {
            LinuxSeccompBuilder::default()
                .default_action(LinuxSeccompAction::ScmpActKillProcess)
                .syscalls(rules)
                .build()
                .unwrap()
        };
        assert!(fits(Some(&strict(vec![
            rule(&DMZ_SYSCALLS),
            rule(&["read"])
        ]))));
        assert!(!fits(Some(&strict(vec![rule(&DMZ_SYSCALLS[1..])]))));
    }

    /// The engines' default profiles (podman's, docker's, which containerd's CRI follows) allow
    /// every call: their containers get the protection.
    #[test]
    fn the_engines_default_profiles_fit() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
        let podman: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixtures.join("engine-configs/podman-runc-run-d.config.json")).unwrap(),
        )
        .unwrap();
        let podman: LinuxSeccomp =
            serde_json::from_value(podman["linux"]["seccomp"].clone()).unwrap();
        assert!(fits(Some(&podman)));
        let docker: LinuxSeccomp = serde_json::from_slice(
            &std::fs::read(fixtures.join("seccomp/docker-default-x86_64.json")).unwrap(),
        )
        .unwrap();
        assert!(fits(Some(&docker)));
    }

    #[test]
    fn the_error_template_is_the_message_with_the_errno_cut_out() {
        let (prefix, suffix) = error_template("exec \"987654321\"");
        let mut json = prefix.into_bytes();
        json.extend_from_slice(b"8");
        json.extend_from_slice(suffix.as_bytes());
        let message: Message = serde_json::from_slice(&json).unwrap();
        let Message::Error(err) = message else {
            panic!("{message:?}")
        };
        assert_eq!(err.phase, Phase::Exec);
        assert_eq!(err.step, "exec \"987654321\"");
        assert_eq!(err.errno, 8);
        assert_eq!(err.to_string(), "exec \"987654321\": exec format error");
    }
}
