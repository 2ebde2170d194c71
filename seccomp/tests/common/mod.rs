//! Shared by the integration tests: a classic BPF interpreter for seccomp programs, the same
//! profile built through libseccomp (as runc does), and a small deterministic PRNG.
#![allow(dead_code)]

use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};

pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
pub const AUDIT_ARCH_RISCV64: u32 = 0xC000_00F3;
pub const AUDIT_ARCH_PPC64LE: u32 = 0xC000_0015;

/// `struct seccomp_data` (include/uapi/linux/seccomp.h).
#[derive(Clone, Copy, Debug, Default)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    fn bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        b[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        b[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        for (i, a) in self.args.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        b
    }
}

/// Runs `prog` over `data` like the kernel's seccomp BPF (classic BPF, absolute word loads of
/// seccomp_data only); panics on anything the kernel's checker would reject.
pub fn run(prog: &[libc::sock_filter], data: &SeccompData) -> u32 {
    execute(prog, data).0
}

/// Number of instructions executed for `data`.
pub fn count_steps(prog: &[libc::sock_filter], data: &SeccompData) -> usize {
    execute(prog, data).1
}

fn execute(prog: &[libc::sock_filter], data: &SeccompData) -> (u32, usize) {
    let mut steps = 0;
    let bytes = data.bytes();
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    loop {
        let insn = prog
            .get(pc)
            .unwrap_or_else(|| panic!("fell off the program at {pc}"));
        pc += 1;
        steps += 1;
        let k = insn.k;
        let class = insn.code & 0x07;
        let op = insn.code & 0xf0;
        let src_x = insn.code & 0x08 != 0;
        match class {
            0x00 => {
                // BPF_LD
                a = match insn.code {
                    0x20 => {
                        let k = k as usize;
                        assert!(k & 3 == 0 && k + 4 <= 64, "bad load offset {k}");
                        u32::from_ne_bytes(bytes[k..k + 4].try_into().unwrap())
                    }
                    0x00 => k,               // LD IMM
                    0x60 => mem[k as usize], // LD MEM
                    0x80 => 64,              // LD LEN
                    other => panic!("unsupported load {other:#x}"),
                }
            }
            0x01 => {
                x = match insn.code {
                    0x01 => k,
                    0x61 => mem[k as usize],
                    0x81 => 64,
                    other => panic!("unsupported ldx {other:#x}"),
                }
            }
            0x02 => mem[k as usize] = a,
            0x03 => mem[k as usize] = x,
            0x04 => {
                let v = if src_x { x } else { k };
                a = match op {
                    0x00 => a.wrapping_add(v),
                    0x10 => a.wrapping_sub(v),
                    0x20 => a.wrapping_mul(v),
                    0x30 => a / v,
                    0x40 => a | v,
                    0x50 => a & v,
                    0x60 => a << v,
                    0x70 => a >> v,
                    0x80 => a.wrapping_neg(),
                    0xa0 => a ^ v,
                    other => panic!("unsupported alu {other:#x}"),
                }
            }
            0x05 => {
                let v = if src_x { x } else { k };
                if op == 0x00 {
                    pc += k as usize;
                    continue;
                }
                let taken = match op {
                    0x10 => a == v,
                    0x20 => a > v,
                    0x30 => a >= v,
                    0x40 => a & v != 0,
                    other => panic!("unsupported jump {other:#x}"),
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            0x06 => return (if insn.code & 0x18 == 0x10 { a } else { k }, steps),
            0x07 => {
                if insn.code == 0x07 {
                    x = a
                } else {
                    a = x
                }
            }
            _ => unreachable!(),
        }
    }
}

/// A deterministic xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub fn load_profile(path: &str) -> LinuxSeccomp {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn docker_profile() -> LinuxSeccomp {
    load_profile("/work/shared/fixtures/seccomp/docker-default-x86_64.json")
}

fn scmp_action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> ScmpAction {
    let data = errno_ret.unwrap_or(libc::EPERM as u32);
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(data as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    }
}

pub fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        other => panic!("no libseccomp mapping for {other}"),
    }
}

/// `profile` built the way runc's libcontainer/seccomp does with libseccomp (rules equal to the
/// default action skipped, unknown names skipped, repeated argument indexes split into separate
/// rules), exported with seccomp_export_bpf into a memfd and parsed back.
pub fn libseccomp_program(profile: &LinuxSeccomp) -> Vec<libc::sock_filter> {
    let ctx = libseccomp_context(profile);
    export(&ctx)
}

pub fn libseccomp_context(profile: &LinuxSeccomp) -> ScmpFilterContext {
    let default = scmp_action(profile.default_action(), profile.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).expect("seccomp_init");
    ctx.set_ctl_nnp(false).expect("nnp");
    for arch in profile.architectures().as_deref().unwrap_or_default() {
        ctx.add_arch(scmp_arch(*arch)).expect("seccomp_arch_add");
    }
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        let action = scmp_action(rule.action(), rule.errno_ret());
        if action == default {
            continue;
        }
        let conds: Vec<ScmpArgCompare> = rule
            .args()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let op = match a.op() {
                    LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                    LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                    LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                    LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                    LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                    LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                    LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(a.value()),
                };
                let datum = if a.op() == LinuxSeccompOperator::ScmpCmpMaskedEq {
                    a.value_two().unwrap_or(0)
                } else {
                    a.value()
                };
                ScmpArgCompare::new(a.index() as u32, op, datum)
            })
            .collect();
        let args = rule.args().as_deref().unwrap_or_default();
        let repeated = args
            .iter()
            .enumerate()
            .any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index()));
        for name in rule.names() {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                continue;
            };
            if repeated {
                for c in &conds {
                    ctx.add_rule_conditional(action, sys, std::slice::from_ref(c))
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                }
            } else {
                ctx.add_rule_conditional(action, sys, &conds)
                    .unwrap_or_else(|e| panic!("{name}: {e}: {rule:?}"));
            }
        }
    }
    ctx
}

pub fn export(ctx: &ScmpFilterContext) -> Vec<libc::sock_filter> {
    // SAFETY: memfd_create with a valid C string; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"bpf".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file).expect("seccomp_export_bpf");
    file.rewind().unwrap();
    let mut raw = Vec::new();
    file.read_to_end(&mut raw).unwrap();
    raw.chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// Whether libseccomp (2.5.4 here) knows `name` at all.
pub fn libseccomp_knows(name: &str) -> bool {
    ScmpSyscall::from_name(name).is_ok()
}

/// The name libseccomp gives `nr` on `arch`, if any.
pub fn libseccomp_name(nr: u32, arch: ScmpArch) -> Option<String> {
    ScmpSyscall::from(nr as i32).get_name_by_arch(arch).ok()
}
