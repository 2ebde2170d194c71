//! Classic BPF emission: an architecture dispatch, then per architecture a binary search over
//! syscall-number intervals whose leaves return an action or run a syscall's argument rules.
//!
//! Code is first emitted with absolute jump targets; [`link`] turns them into the 8-bit relative
//! offsets of conditional jumps, inserting `JA` trampolines where a target is too far away.

use crate::arch::{ArchSpec, X32_SYSCALL_BIT};
use crate::rules::{Block, Condition, Entry, Op};

const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data` (include/uapi/linux/seccomp.h).
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
const ARGS_OFFSET: u32 = 16;

/// Jump target still to be patched: the next rule of the syscall being emitted.
const NEXT_RULE: usize = usize::MAX;

/// An instruction whose jump targets are absolute instruction indexes.
#[derive(Clone, Copy, Debug)]
struct Insn {
    code: u16,
    jt: usize,
    jf: usize,
    k: u32,
}

/// The architectures sharing one `seccomp_data.arch` value and their rules.
pub(crate) struct ArchBlock {
    pub audit: u32,
    pub arches: Vec<ArchSpec>,
    pub rules: Block,
}

/// How an x86_64-audit block must treat the x32 bit of `nr` (libseccomp `_gen_bpf_arch`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum X32Split {
    /// Not an `AUDIT_ARCH_X86_64` block, or both x86_64 and x32 are in it.
    None,
    /// x86_64 only: an `nr` with the x32 bit (other than -1) gets the bad-arch action.
    RejectX32,
    /// x32 only: an `nr` without the x32 bit gets the bad-arch action.
    RejectX86_64,
}

struct Emitter {
    code: Vec<Insn>,
    default_action: u32,
    bad_arch_action: u32,
}

/// The whole program for `blocks`; the first block is checked first.
pub(crate) fn generate(
    blocks: &[ArchBlock],
    default_action: u32,
    bad_arch_action: u32,
) -> Vec<libc::sock_filter> {
    let mut e = Emitter {
        code: Vec::with_capacity(1024),
        default_action,
        bad_arch_action,
    };
    e.stmt(LD_ABS, ARCH_OFFSET);
    let checks: Vec<usize> = blocks.iter().map(|b| e.jump(JEQ, b.audit, 0, 0)).collect();
    for &check in &checks {
        e.code[check].jf = check + 1;
    }
    e.ret(bad_arch_action);
    for (block, check) in blocks.iter().zip(checks) {
        e.code[check].jt = e.here();
        e.block(block);
    }
    link(e.code)
}

impl Emitter {
    fn here(&self) -> usize {
        self.code.len()
    }

    fn stmt(&mut self, code: u16, k: u32) -> usize {
        self.code.push(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        });
        self.code.len() - 1
    }

    fn jump(&mut self, code: u16, k: u32, jt: usize, jf: usize) -> usize {
        self.code.push(Insn { code, jt, jf, k });
        self.code.len() - 1
    }

    fn ret(&mut self, action: u32) {
        self.stmt(RET_K, action);
    }

    fn block(&mut self, block: &ArchBlock) {
        let has = |name| block.arches.iter().any(|a| a.name == name);
        let split = match (has(crate::arch::X86_64.name), has(crate::arch::X32.name)) {
            (true, false) => X32Split::RejectX32,
            (false, true) => X32Split::RejectX86_64,
            _ => X32Split::None,
        };
        self.stmt(LD_ABS, NR_OFFSET);
        match split {
            X32Split::None => {}
            X32Split::RejectX32 => {
                // nr >= X32_SYSCALL_BIT: -1 (a tracer skipping the call) takes the default
                // action, anything else is an x32 call this filter does not cover.
                let at = self.here();
                self.jump(JGE, X32_SYSCALL_BIT, at + 1, at + 4);
                self.jump(JEQ, u32::MAX, at + 2, at + 3);
                self.ret(self.default_action);
                self.ret(self.bad_arch_action);
            }
            X32Split::RejectX86_64 => {
                let at = self.here();
                self.jump(JGE, X32_SYSCALL_BIT, at + 2, at + 1);
                self.ret(self.bad_arch_action);
            }
        }
        let intervals = intervals(&block.rules.entries);
        self.search(&intervals, &block.rules);
    }

    /// Binary search over `intervals` (sorted, the first starting at 0) on the loaded `nr`.
    fn search(&mut self, intervals: &[Interval], rules: &Block) {
        if let [only] = intervals {
            match only.body {
                Body::Default => self.ret(self.default_action),
                Body::Action(action) => self.ret(action),
                Body::Rules(first, last) => self.rules(&rules.entries[first..last], rules),
            }
            return;
        }
        let mid = intervals.len() / 2;
        let at = self.jump(JGE, intervals[mid].start, 0, 0);
        self.code[at].jf = at + 1;
        self.search(&intervals[..mid], rules);
        self.code[at].jt = self.here();
        self.search(&intervals[mid..], rules);
    }

    /// The conditional rules of one syscall: the first rule whose conditions all hold decides;
    /// none holding means the default action.
    fn rules(&mut self, entries: &[Entry], rules: &Block) {
        for entry in entries {
            let start = self.here();
            for cond in &rules.conditions[entry.conditions.clone()] {
                self.condition(cond, entry.wide_args);
            }
            self.ret(entry.action);
            let next = self.here();
            for insn in &mut self.code[start..] {
                if insn.jt == NEXT_RULE {
                    insn.jt = next;
                }
                if insn.jf == NEXT_RULE {
                    insn.jf = next;
                }
            }
        }
        self.ret(self.default_action);
    }

    /// Falls through when `cond` holds, jumps to [`NEXT_RULE`] when it does not. 64-bit values
    /// are compared high word first (libseccomp `_db_rule_gen_64`).
    fn condition(&mut self, cond: &Condition, wide_args: bool) {
        let lo_offset = ARGS_OFFSET
            + 8 * u32::from(cond.arg)
            + if cfg!(target_endian = "little") { 0 } else { 4 };
        let hi_offset = ARGS_OFFSET
            + 8 * u32::from(cond.arg)
            + if cfg!(target_endian = "little") { 4 } else { 0 };
        let (datum_hi, datum_lo) = ((cond.datum >> 32) as u32, cond.datum as u32);
        let (mask_hi, mask_lo) = ((cond.mask >> 32) as u32, cond.mask as u32);
        const FAIL: usize = NEXT_RULE;
        if !wide_args {
            self.stmt(LD_ABS, lo_offset);
            let pass = self.here() + 1;
            match cond.op {
                Op::Eq => self.jump(JEQ, datum_lo, pass, FAIL),
                Op::MaskedEq => {
                    if mask_lo != u32::MAX {
                        self.stmt(AND_K, mask_lo);
                    }
                    let at = self.here();
                    self.jump(JEQ, datum_lo, at + 1, FAIL)
                }
                Op::Ne => self.jump(JEQ, datum_lo, FAIL, pass),
                Op::Gt => self.jump(JGT, datum_lo, pass, FAIL),
                Op::Ge => self.jump(JGE, datum_lo, pass, FAIL),
                Op::Lt => self.jump(JGE, datum_lo, FAIL, pass),
                Op::Le => self.jump(JGT, datum_lo, FAIL, pass),
            };
            return;
        }
        match cond.op {
            Op::Eq | Op::MaskedEq => {
                for (offset, mask, datum) in [
                    (hi_offset, mask_hi, datum_hi),
                    (lo_offset, mask_lo, datum_lo),
                ] {
                    if mask == 0 {
                        continue;
                    }
                    self.stmt(LD_ABS, offset);
                    if mask != u32::MAX {
                        self.stmt(AND_K, mask);
                    }
                    let at = self.here();
                    self.jump(JEQ, datum, at + 1, FAIL);
                }
            }
            Op::Ne => {
                let at = self.here();
                let pass = at + 4;
                self.stmt(LD_ABS, hi_offset);
                self.jump(JEQ, datum_hi, at + 2, pass);
                self.stmt(LD_ABS, lo_offset);
                self.jump(JEQ, datum_lo, FAIL, pass);
            }
            Op::Gt | Op::Ge => {
                let at = self.here();
                let pass = at + 5;
                self.stmt(LD_ABS, hi_offset);
                self.jump(JGT, datum_hi, pass, at + 2);
                self.jump(JEQ, datum_hi, at + 3, FAIL);
                self.stmt(LD_ABS, lo_offset);
                let lo_op = if cond.op == Op::Gt { JGT } else { JGE };
                self.jump(lo_op, datum_lo, pass, FAIL);
            }
            Op::Lt | Op::Le => {
                let at = self.here();
                let pass = at + 5;
                self.stmt(LD_ABS, hi_offset);
                self.jump(JGT, datum_hi, FAIL, at + 2);
                self.jump(JEQ, datum_hi, at + 3, pass);
                self.stmt(LD_ABS, lo_offset);
                let lo_op = if cond.op == Op::Lt { JGE } else { JGT };
                self.jump(lo_op, datum_lo, FAIL, pass);
            }
        }
    }
}

/// What the syscall numbers of an interval get.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Body {
    Default,
    Action(u32),
    /// Conditional rules: `entries[first..last]`, all of one syscall number.
    Rules(usize, usize),
}

#[derive(Clone, Copy, Debug)]
struct Interval {
    start: u32,
    body: Body,
}

/// Splits the number space into intervals of equal outcome. Per syscall (libseccomp
/// `db_rule_add`): the first unconditional rule wins over every other rule; otherwise its
/// conditional rules are tried in profile order.
fn intervals(entries: &[Entry]) -> Vec<Interval> {
    let mut out = vec![Interval {
        start: 0,
        body: Body::Default,
    }];
    let mut i = 0;
    while i < entries.len() {
        let nr = entries[i].nr;
        let end = i + entries[i..].iter().take_while(|e| e.nr == nr).count();
        let body = match entries[i..end].iter().find(|e| e.conditions.is_empty()) {
            Some(unconditional) => Body::Action(unconditional.action),
            None => Body::Rules(i, end),
        };
        push_interval(&mut out, nr, body);
        if nr != u32::MAX {
            push_interval(&mut out, nr + 1, Body::Default);
        }
        i = end;
    }
    out
}

/// Appends an interval starting at `start`, replacing one that starts there already and
/// merging with the previous interval when both simply return the same action.
fn push_interval(out: &mut Vec<Interval>, start: u32, body: Body) {
    if out.last().is_some_and(|last| last.start == start) {
        out.pop();
    }
    let simple = !matches!(body, Body::Rules(..));
    if simple && out.last().is_some_and(|last| last.body == body) {
        return;
    }
    out.push(Interval { start, body });
}

/// Resolves absolute targets into relative offsets. A conditional jump reaches at most 255
/// instructions ahead; a farther target goes through a `JA` (32-bit offset) inserted right after
/// the jump. Walking backwards, an insertion only lengthens jumps not yet visited.
fn link(mut code: Vec<Insn>) -> Vec<libc::sock_filter> {
    let is_cond = |insn: &Insn| {
        insn.code & 0x07 == libc::BPF_JMP as u16 && insn.code & 0xf0 != libc::BPF_JA as u16
    };
    let mut i = code.len();
    while i > 0 {
        i -= 1;
        let insn = code[i];
        if !is_cond(&insn) {
            continue;
        }
        let far_t = insn.jt - (i + 1) > 255;
        let far_f = insn.jf - (i + 1) > 255;
        if !far_t && !far_f {
            continue;
        }
        let n = usize::from(far_t) + usize::from(far_f);
        for other in code.iter_mut() {
            if other.jt > i {
                other.jt += n;
            }
            if other.jf > i {
                other.jf += n;
            }
        }
        let (target_t, target_f) = (code[i].jt, code[i].jf);
        let mut slot = i + 1;
        if far_t {
            code.insert(
                slot,
                Insn {
                    code: JA,
                    jt: target_t,
                    jf: 0,
                    k: 0,
                },
            );
            code[i].jt = slot;
            slot += 1;
        }
        if far_f {
            code.insert(
                slot,
                Insn {
                    code: JA,
                    jt: target_f,
                    jf: 0,
                    k: 0,
                },
            );
            code[i].jf = slot;
        }
        // The near branch grew by `n`: look at this jump again.
        i += 1;
    }
    code.iter()
        .enumerate()
        .map(|(i, insn)| {
            if insn.code == JA {
                libc::sock_filter {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: (insn.jt - (i + 1)) as u32,
                }
            } else if is_cond(insn) {
                libc::sock_filter {
                    code: insn.code,
                    jt: (insn.jt - (i + 1)) as u8,
                    jf: (insn.jf - (i + 1)) as u8,
                    k: insn.k,
                }
            } else {
                libc::sock_filter {
                    code: insn.code,
                    jt: 0,
                    jf: 0,
                    k: insn.k,
                }
            }
        })
        .collect()
}
