//! Per-architecture rule tables: which syscall numbers a profile matches, under which argument
//! conditions, with which action — normalised as libseccomp does for runc and crun.

use oci_spec::runtime::{LinuxSeccompArg, LinuxSeccompOperator};

use crate::arch::ArchSpec;
use crate::lookup::{Multiplexer, Syscall};

/// One argument comparison, normalised for the architecture's word size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Condition {
    pub arg: u8,
    pub op: Op,
    /// All ones except for MASKED_EQ; only the low word on 32-bit architectures.
    pub mask: u64,
    /// The value compared with, already masked (libseccomp's `_db_node_mask_fixup`).
    pub datum: u64,
}

/// libseccomp's comparison operators (`enum scmp_compare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

/// A syscall number matched with `conditions` (all must hold) giving `action`.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub nr: u32,
    pub action: u32,
    /// Compare 64-bit arguments (both words) or only their low 32 bits.
    pub wide_args: bool,
    /// Position in profile order (ties between rules of one syscall).
    pub order: u32,
    /// Range of [`Block::conditions`]; empty means unconditional.
    pub conditions: std::ops::Range<usize>,
}

/// The rules of one `seccomp_data.arch` value (x86_64 and x32 share one).
#[derive(Debug, Default)]
pub(crate) struct Block {
    pub entries: Vec<Entry>,
    pub conditions: Vec<Condition>,
}

impl Block {
    /// Adds `syscall` matched under `args` (already validated) for every architecture of this
    /// block; `split` adds each comparison as a rule of its own.
    pub(crate) fn add(
        &mut self,
        syscall: Syscall,
        action: u32,
        args: &[LinuxSeccompArg],
        split: bool,
        arches: &[ArchSpec],
    ) {
        for &arch in arches {
            if split {
                for cmp in args {
                    self.add_syscall(arch, syscall, action, std::slice::from_ref(cmp));
                }
            } else {
                self.add_syscall(arch, syscall, action, args);
            }
        }
    }

    fn add_syscall(
        &mut self,
        arch: ArchSpec,
        syscall: Syscall,
        action: u32,
        args: &[LinuxSeccompArg],
    ) {
        if let (Some((socketcall, ipc)), Some(mux)) = (arch.multiplexers, syscall.multiplexer()) {
            let (mux_nr, call) = match mux {
                Multiplexer::SocketCall(call) => (socketcall, call),
                Multiplexer::Ipc(call) => (ipc, call),
            };
            // libseccomp abi_rule_add(): also match the multiplexer with arg0 == call; the
            // rule's own comparison of arg0 (if any) is replaced by that one.
            let start = self.conditions.len();
            self.conditions.push(Condition {
                arg: 0,
                op: Op::Eq,
                mask: word_mask(arch),
                datum: call,
            });
            self.push_conditions(arch, args.iter().filter(|a| a.index() != 0));
            let conditions = start..self.conditions.len();
            self.push_entry(mux_nr, action, arch, conditions);
        }
        if let Some(nr) = syscall.number(arch.column) {
            let start = self.conditions.len();
            self.push_conditions(arch, args.iter());
            let conditions = start..self.conditions.len();
            self.push_entry(nr, action, arch, conditions);
        }
    }

    fn push_entry(
        &mut self,
        nr: u32,
        action: u32,
        arch: ArchSpec,
        conditions: std::ops::Range<usize>,
    ) {
        let order = self.entries.len() as u32;
        self.entries.push(Entry {
            nr,
            action,
            wide_args: arch.wide_args,
            order,
            conditions,
        });
    }

    fn push_conditions<'a>(
        &mut self,
        arch: ArchSpec,
        args: impl Iterator<Item = &'a LinuxSeccompArg>,
    ) {
        let word = word_mask(arch);
        for cmp in args {
            let (op, mask, datum) = match cmp.op() {
                LinuxSeccompOperator::ScmpCmpNe => (Op::Ne, word, cmp.value()),
                LinuxSeccompOperator::ScmpCmpLt => (Op::Lt, word, cmp.value()),
                LinuxSeccompOperator::ScmpCmpLe => (Op::Le, word, cmp.value()),
                LinuxSeccompOperator::ScmpCmpEq => (Op::Eq, word, cmp.value()),
                LinuxSeccompOperator::ScmpCmpGe => (Op::Ge, word, cmp.value()),
                LinuxSeccompOperator::ScmpCmpGt => (Op::Gt, word, cmp.value()),
                // OCI: `value` is the mask, `valueTwo` the value (runtime-spec config-linux.md).
                LinuxSeccompOperator::ScmpCmpMaskedEq => (
                    Op::MaskedEq,
                    cmp.value() & word,
                    cmp.value_two().unwrap_or(0),
                ),
            };
            // A zero mask compares nothing: libseccomp drops the comparison.
            if op == Op::MaskedEq && mask == 0 {
                continue;
            }
            self.conditions.push(Condition {
                arg: cmp.index() as u8,
                op,
                mask,
                datum: datum & mask,
            });
        }
    }

    /// Sorts the entries by syscall number, keeping profile order within one number.
    pub(crate) fn sort(&mut self) {
        self.entries.sort_unstable_by_key(|e| (e.nr, e.order));
    }
}

/// The bits of an argument the architecture compares: 64 or the low 32.
fn word_mask(arch: ArchSpec) -> u64 {
    if arch.wide_args {
        u64::MAX
    } else {
        u64::from(u32::MAX)
    }
}
