//! The architectures husk compiles filters for: audit tokens, word size, syscall table column.

use oci_spec::runtime::Arch;

use crate::error::SeccompError;

/// `__X32_SYSCALL_BIT` (arch/x86/include/uapi/asm/unistd.h): set in `nr` for x32 syscalls, which
/// share `AUDIT_ARCH_X86_64` with native x86_64.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One architecture a profile can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArchSpec {
    /// The profile's name for it (error messages).
    pub name: &'static str,
    /// `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch` (include/uapi/linux/audit.h).
    pub audit: u32,
    /// Column of [`crate::syscalls::NUMBERS`].
    pub column: usize,
    /// Syscall arguments are 64-bit (compare both 32-bit halves) or 32-bit (low half only).
    pub wide_args: bool,
    /// `(socketcall, ipc)` numbers when the ABI multiplexes socket and SysV IPC calls through
    /// them; libseccomp then also matches `socketcall(SYS_x, ...)` for a rule on `x`.
    pub multiplexers: Option<(u32, u32)>,
}

const fn spec(
    name: &'static str,
    audit: u32,
    column: usize,
    wide_args: bool,
    multiplexers: Option<(u32, u32)>,
) -> ArchSpec {
    ArchSpec {
        name,
        audit,
        column,
        wide_args,
        multiplexers,
    }
}

pub(crate) const X86_64: ArchSpec = spec("SCMP_ARCH_X86_64", 0xC000_003E, 0, true, None);
pub(crate) const X86: ArchSpec = spec("SCMP_ARCH_X86", 0x4000_0003, 1, false, Some((102, 117)));
/// x32 uses `AUDIT_ARCH_X86_64` and its own numbering (x86_64 numbers | `X32_SYSCALL_BIT`).
pub(crate) const X32: ArchSpec = spec("SCMP_ARCH_X32", 0xC000_003E, 2, false, None);
pub(crate) const AARCH64: ArchSpec = spec("SCMP_ARCH_AARCH64", 0xC000_00B7, 3, true, None);
pub(crate) const ARM: ArchSpec = spec("SCMP_ARCH_ARM", 0x4000_0028, 4, false, None);
pub(crate) const RISCV64: ArchSpec = spec("SCMP_ARCH_RISCV64", 0xC000_00F3, 5, true, None);
pub(crate) const S390X: ArchSpec = spec("SCMP_ARCH_S390X", 0x8000_0016, 6, true, Some((102, 117)));
pub(crate) const PPC64LE: ArchSpec =
    spec("SCMP_ARCH_PPC64LE", 0xC000_0015, 7, true, Some((102, 117)));
pub(crate) const PPC64: ArchSpec = spec("SCMP_ARCH_PPC64", 0x8000_0015, 7, true, Some((102, 117)));

/// The architecture husk itself runs on; libseccomp (and so runc and crun) always include it.
pub(crate) const NATIVE: ArchSpec = if cfg!(target_arch = "x86_64") {
    X86_64
} else if cfg!(target_arch = "aarch64") {
    AARCH64
} else if cfg!(target_arch = "riscv64") {
    RISCV64
} else if cfg!(target_arch = "s390x") {
    S390X
} else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
    PPC64LE
} else if cfg!(target_arch = "powerpc64") {
    PPC64
} else if cfg!(target_arch = "x86") {
    X86
} else if cfg!(target_arch = "arm") {
    ARM
} else {
    panic!("husk-seccomp: unsupported target architecture")
};

/// Maps a profile's `architectures` entry to its spec.
pub(crate) fn from_oci(arch: Arch) -> Result<ArchSpec, SeccompError> {
    Ok(match arch {
        Arch::ScmpArchNative => NATIVE,
        Arch::ScmpArchX86_64 => X86_64,
        Arch::ScmpArchX86 => X86,
        Arch::ScmpArchX32 => X32,
        Arch::ScmpArchAarch64 => AARCH64,
        Arch::ScmpArchArm => ARM,
        Arch::ScmpArchRiscv64 => RISCV64,
        Arch::ScmpArchS390x => S390X,
        Arch::ScmpArchPpc64le => PPC64LE,
        Arch::ScmpArchPpc64 => PPC64,
        other => return Err(SeccompError::UnsupportedArchitecture(other.to_string())),
    })
}
