//! OCI seccomp profile (`linux.seccomp`) to classic BPF, and its installation.
//!
//! [`compile`] runs in the runtime before the container process exists and follows libseccomp's
//! semantics (what runc and crun produce) without its cost: one program covers every listed
//! architecture plus the native one, each dispatching on the syscall number by binary search.
//! [`Filter::install`] is the child's last step before execve.

mod action;
mod arch;
mod codegen;
mod error;
mod install;
mod lookup;
mod rules;
#[rustfmt::skip]
mod syscalls;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
};

pub use error::SeccompError;

use crate::arch::ArchSpec;
use crate::codegen::ArchBlock;
use crate::rules::Block;

/// Action for a syscall from an architecture the profile does not list: libseccomp's default
/// `SCMP_FLTATR_ACT_BADARCH`, which runc and crun keep.
const BAD_ARCH_ACTION: u32 = libc::SECCOMP_RET_KILL_THREAD;

/// A compiled filter: the BPF program and the `seccomp(2)` flags to install it with.
#[derive(Debug, Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

impl Filter {
    /// The BPF program.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Never true: a program has at least its bad-architecture return.
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// `SECCOMP_FILTER_FLAG_*` passed to `seccomp(SECCOMP_SET_MODE_FILTER)`.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// True when the filter returns SCMP_ACT_NOTIFY somewhere, so [`Filter::install`] returns a
    /// listener fd.
    pub fn has_listener(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }
}

/// The number of syscall `name` on `arch` (`None`: the architecture has no such syscall).
pub fn syscall_number(
    name: &str,
    arch: oci_spec::runtime::Arch,
) -> Result<Option<u32>, SeccompError> {
    let spec = arch::from_oci(arch)?;
    Ok(lookup::resolve(name).and_then(|s| s.number(spec.column)))
}

/// Compiles `profile` (defaultAction, defaultErrnoRet, architectures, flags, syscalls).
///
/// Semantics, as libseccomp gives them to runc and crun:
/// - the native architecture is always covered, other architectures give KILL_THREAD;
/// - a name unknown on an architecture is skipped there; rules equal to the default are skipped;
/// - ERRNO and TRACE carry `errnoRet` (EPERM when absent); SCMP_ACT_KILL is KILL_THREAD;
/// - 32-bit architectures (x86, x32, arm) compare the low 32 bits of arguments only;
/// - MASKED_EQ is `(arg & value) == (valueTwo & value)`;
/// - on x86, s390x and ppc64 a rule on a socket or SysV IPC call also matches
///   `socketcall`/`ipc` with arg0 = the call number (its own arg0 comparison replaced);
/// - per syscall, the first unconditional rule overrides every other rule; otherwise the first
///   rule (profile order) whose comparisons all hold decides. libseccomp merges rules of
///   different actions into a tree whose outcome depends on its shape; profiles do not rely on it.
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let default_action = match profile.default_action() {
        // runc: a notification nobody can answer yet would block the runtime's own syscalls.
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::UnsupportedDefaultAction(
                "SCMP_ACT_NOTIFY".into(),
            ))
        }
        action => action::ret_value(action, profile.default_errno_ret(), || {
            "defaultErrnoRet".into()
        })?,
    };
    let mut blocks = arch_blocks(profile)?;
    let mut uses_notify = false;
    for (index, syscall) in profile
        .syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if syscall.names().is_empty() {
            return Err(SeccompError::NoNames { rule: index });
        }
        let action = action::ret_value(syscall.action(), syscall.errno_ret(), || {
            format!("syscalls[{index}].errnoRet")
        })?;
        let args = syscall.args().as_deref().unwrap_or_default();
        let split = check_args(index, args)?;
        // libseccomp refuses a rule whose action is the default one; runc, crun and youki skip it.
        if action == default_action {
            continue;
        }
        uses_notify |= action == libc::SECCOMP_RET_USER_NOTIF;
        // A name no architecture knows is skipped, as libseccomp (runc, crun) does; so is a name
        // an architecture lacks, for that architecture.
        for name_syscall in syscall
            .names()
            .iter()
            .filter_map(|name| lookup::resolve(name))
        {
            for block in &mut blocks {
                block
                    .rules
                    .add(name_syscall, action, args, split, &block.arches);
            }
        }
    }
    for block in &mut blocks {
        block.rules.sort();
    }
    let program = codegen::generate(&blocks, default_action, BAD_ARCH_ACTION);
    let limit = libc::BPF_MAXINSNS as usize;
    if program.len() > limit {
        return Err(SeccompError::TooManyInstructions {
            count: program.len(),
            limit,
        });
    }
    Ok(Filter {
        program,
        flags: flags(profile, uses_notify),
    })
}

/// Validates a rule's argument indexes; true when an index repeats. libseccomp refuses two
/// comparisons of one argument in a rule, so runc then adds each comparison as a rule of its own
/// (OR instead of AND); husk does the same.
fn check_args(rule: usize, args: &[LinuxSeccompArg]) -> Result<bool, SeccompError> {
    for (arg, cmp) in args.iter().enumerate() {
        if cmp.index() > 5 {
            return Err(SeccompError::ArgumentIndex {
                rule,
                arg,
                index: cmp.index(),
            });
        }
    }
    Ok(args
        .iter()
        .enumerate()
        .any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index())))
}

/// The native architecture first (libseccomp's order), then the listed ones; x86_64 and x32
/// share a block because they share `AUDIT_ARCH_X86_64`.
fn arch_blocks(profile: &LinuxSeccomp) -> Result<Vec<ArchBlock>, SeccompError> {
    let mut blocks: Vec<ArchBlock> = Vec::with_capacity(4);
    let listed = profile.architectures().as_deref().unwrap_or_default();
    let specs = std::iter::once(Ok(arch::NATIVE)).chain(listed.iter().map(|&a| arch::from_oci(a)));
    for spec in specs {
        let spec: ArchSpec = spec?;
        match blocks.iter_mut().find(|b| b.audit == spec.audit) {
            Some(block) if block.arches.contains(&spec) => {}
            Some(block) => block.arches.push(spec),
            None => blocks.push(ArchBlock {
                audit: spec.audit,
                arches: vec![spec],
                rules: Block::default(),
            }),
        }
    }
    Ok(blocks)
}

/// `seccomp(2)` flags: the profile's, plus NEW_LISTENER when a rule notifies.
fn flags(profile: &LinuxSeccomp, uses_notify: bool) -> libc::c_ulong {
    let mut flags = 0;
    for flag in profile.flags().as_deref().unwrap_or_default() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // Only meaningful (and only accepted by the kernel) with a listener, as libseccomp.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if uses_notify => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    if uses_notify {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // seccomp(2): TSYNC and NEW_LISTENER together need TSYNC_ESRCH (the return value can
        // only be one of a thread id or a listener fd).
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    flags
}
