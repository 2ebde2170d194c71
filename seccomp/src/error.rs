//! Errors of profile compilation.

/// A `linux.seccomp` profile husk cannot compile; each message names the offending field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    #[error("linux.seccomp.architectures: unsupported architecture {0} (husk knows SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64, SCMP_ARCH_ARM, SCMP_ARCH_RISCV64, SCMP_ARCH_S390X, SCMP_ARCH_PPC64LE, SCMP_ARCH_PPC64)")]
    UnsupportedArchitecture(String),
    #[error("linux.seccomp.defaultAction: {0} cannot be the default action")]
    UnsupportedDefaultAction(String),
    #[error("linux.seccomp.{field}: errno {value} does not fit the 16-bit SECCOMP_RET_DATA")]
    ErrnoOutOfRange { field: String, value: u32 },
    #[error(
        "linux.seccomp.syscalls[{rule}].args[{arg}].index: {index} is not a syscall argument (0-5)"
    )]
    ArgumentIndex {
        rule: usize,
        arg: usize,
        index: usize,
    },
    #[error("linux.seccomp.syscalls[{rule}].names: empty")]
    NoNames { rule: usize },
    #[error("linux.seccomp: the compiled filter has {count} instructions, more than the kernel's limit of {limit} (BPF_MAXINSNS)")]
    TooManyInstructions { count: usize, limit: usize },
}
