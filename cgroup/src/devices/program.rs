//! linux.resources.devices -> a BPF_PROG_TYPE_CGROUP_DEVICE program, encoded by hand like crun's
//! src/libcrun/ebpf.c and runc's devicefilter.go.
//!
//! Semantics (cgroup v1 devices.allow/deny as runc emulates them): the rules apply in order and the
//! last matching rule wins; a device no rule matches is denied (configs start with "deny all").
//! The program therefore tests the rules from last to first and returns the first match's verdict.
//! An allow rule matches a request whose access bits it all covers; a deny rule matches a request
//! asking for any bit it denies (so "allow c 1:* rw" then "deny c 1:1 w" refuses a read-write open
//! of 1:1 and grants a read-only one). Type `a` stands for every device (v1 ignores major, minor
//! and access for it), a missing major or minor (or -1) is a wildcard, missing access is "rwm".

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::CgroupError;

/// struct bpf_insn (linux/bpf.h): opcode, dst_reg:4 | src_reg:4, off, imm.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub(crate) code: u8,
    pub(crate) regs: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

// Opcodes (linux/bpf_common.h, linux/bpf.h): class | op | source.
pub(crate) const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(crate) const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
pub(crate) const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(crate) const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub(crate) const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
pub(crate) const JEQ_X: u8 = 0x1d; // BPF_JMP | BPF_JEQ | BPF_X
pub(crate) const JA: u8 = 0x05; // BPF_JMP | BPF_JA
pub(crate) const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// Registers: R0 verdict, R1 context on entry; R2 type, R3 access, R4 major, R5 minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, access_type =
// (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*.
pub(crate) const DEV_BLOCK: i32 = 1;
pub(crate) const DEV_CHAR: i32 = 2;
pub(crate) const ACC_MKNOD: i32 = 1;
pub(crate) const ACC_READ: i32 = 2;
pub(crate) const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// One rule in the form the program tests; `None` fields match anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: bool,
    dev_type: Option<i32>,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
}

impl Rule {
    fn from_oci(rule: &LinuxDeviceCgroup) -> Result<Option<Rule>, CgroupError> {
        let invalid = |reason: String| CgroupError::InvalidResource {
            field: "devices",
            reason,
        };
        let dev_type = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => {
                let allow = rule.allow();
                return Ok(Some(Rule {
                    allow,
                    dev_type: None,
                    major: None,
                    minor: None,
                    access: ACC_ALL,
                }));
            }
            LinuxDeviceType::B => DEV_BLOCK,
            LinuxDeviceType::C | LinuxDeviceType::U => DEV_CHAR,
            // A FIFO is not a device: the device controller never sees it.
            LinuxDeviceType::P => return Ok(None),
        };
        let number = |v: Option<i64>, what: &str| -> Result<Option<i32>, CgroupError> {
            match v {
                None | Some(-1) => Ok(None),
                Some(n) => i32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| invalid(format!("{what} {n} out of range in rule {rule}"))),
            }
        };
        let mut access = 0;
        for c in rule.access().as_deref().unwrap_or("rwm").chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                other => return Err(invalid(format!("access {other:?} in rule {rule}"))),
            };
        }
        if access == 0 {
            access = ACC_ALL;
        }
        Ok(Some(Rule {
            allow: rule.allow(),
            dev_type: Some(dev_type),
            major: number(rule.major(), "major")?,
            minor: number(rule.minor(), "minor")?,
            access,
        }))
    }

    fn matches_everything(&self) -> bool {
        self.dev_type.is_none()
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACC_ALL
    }

    /// The tests of this rule, the device type aside (`compile` tests it once for a run of rules
    /// of one type). Empty: every device of the type matches.
    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::with_capacity(3);
        if self.access != ACC_ALL {
            // R1 (the context pointer, no longer needed) = requested & rule's bits.
            let setup = [
                insn(ALU32_MOV_X, R1, R_ACCESS, 0, 0),
                insn(ALU32_AND_K, R1, 0, 0, self.access),
            ];
            checks.push(if self.allow {
                // Allow: holds when every requested bit is covered.
                Check::new(&setup, insn(JEQ_X, R1, R_ACCESS, 0, 0))
            } else {
                // Deny: holds when some requested bit is denied.
                Check::new(&setup, insn(JNE_K, R1, 0, 0, 0))
            });
        }
        if let Some(major) = self.major {
            checks.push(Check::new(&[], insn(JEQ_K, R_MAJOR, 0, 0, major)));
        }
        if let Some(minor) = self.minor {
            checks.push(Check::new(&[], insn(JEQ_K, R_MINOR, 0, 0, minor)));
        }
        checks
    }

    /// A plain `c MAJOR:MINOR rwm` rule: runs of them share one test of the major.
    fn exact_node(&self) -> Option<(i32, i32)> {
        match (self.major, self.minor) {
            (Some(major), Some(minor)) if self.access == ACC_ALL => Some((major, minor)),
            _ => None,
        }
    }
}

/// One condition of a rule: instructions that prepare it, then a conditional jump taken when the
/// condition holds.
struct Check {
    setup: Vec<Insn>,
    holds: Insn,
}

impl Check {
    fn new(setup: &[Insn], holds: Insn) -> Check {
        Check {
            setup: setup.to_vec(),
            holds,
        }
    }

    /// The same jump, taken when the condition fails.
    fn fails(&self) -> Insn {
        let mut jump = self.holds;
        jump.code = match jump.code {
            JEQ_K => JNE_K,
            JNE_K => JEQ_K,
            JEQ_X => JNE_X,
            JNE_X => JEQ_X,
            other => unreachable!("not a conditional jump: {other:#x}"),
        };
        jump
    }
}

/// The program under construction. A rule that matches jumps straight to a shared verdict (two
/// instructions each, placed at the end), so a rule costs one conditional jump per condition and
/// nothing more: the verifier's time grows with every instruction and every branch it walks
/// (runc's default list: 30 instructions and 76 us to load on this kernel, from 52 and 119 us with
/// a verdict per rule and no shared major tests).
struct Asm {
    prog: Vec<Insn>,
    /// Jumps to patch once the verdicts are placed: (index, verdict).
    to_verdict: Vec<(usize, bool)>,
    /// Where the jumps patched by `land_here` go.
    landings: Vec<usize>,
}

impl Asm {
    fn push(&mut self, i: Insn) -> usize {
        self.prog.push(i);
        self.prog.len() - 1
    }

    /// Points the jump at `at` to the next instruction to be pushed.
    fn land_here(&mut self, at: usize) {
        self.prog[at].off = (self.prog.len() - at - 1) as i16;
        self.landings.push(self.prog.len());
    }

    /// A jump taken to `verdict`.
    fn jump_to_verdict(&mut self, jump: Insn, verdict: bool) {
        let at = self.push(jump);
        self.to_verdict.push((at, verdict));
    }

    /// The checks of one rule: all but the last skip the rule when they fail, the last jumps to the
    /// verdict when it holds. No checks: the verdict, unconditionally.
    fn rule(&mut self, checks: &[Check], verdict: bool) {
        let Some((last, first)) = checks.split_last() else {
            self.jump_to_verdict(insn(JA, 0, 0, 0, 0), verdict);
            return;
        };
        let mut skips = Vec::with_capacity(first.len());
        for check in first {
            self.prog.extend_from_slice(&check.setup);
            skips.push(self.push(check.fails()));
        }
        self.prog.extend_from_slice(&last.setup);
        self.jump_to_verdict(last.holds, verdict);
        for at in skips {
            self.land_here(at);
        }
    }

    /// "No rule matched": deny; then the verdicts the jumps go to. Each is placed only when
    /// something reaches it: the verifier rejects a program with unreachable instructions.
    fn finish(mut self) -> Vec<Insn> {
        let deny = self.prog.len();
        let falls_through = self.prog.last().is_some_and(|i| i.code != JA);
        if falls_through
            || self.landings.contains(&deny)
            || self.to_verdict.iter().any(|(_, verdict)| !*verdict)
        {
            self.prog.push(insn(ALU32_MOV_K, R0, 0, 0, 0));
            self.prog.push(insn(EXIT, 0, 0, 0, 0));
        }
        let allow = self.prog.len();
        if self.to_verdict.iter().any(|(_, verdict)| *verdict) {
            self.prog.push(insn(ALU32_MOV_K, R0, 0, 0, 1));
            self.prog.push(insn(EXIT, 0, 0, 0, 0));
        }
        for (at, verdict) in self.to_verdict {
            let target = if verdict { allow } else { deny };
            self.prog[at].off = (target - at - 1) as i16;
        }
        self.prog
    }
}

/// The program for `rules`.
pub(crate) fn compile(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>, CgroupError> {
    let mut parsed = Vec::with_capacity(rules.len());
    for rule in rules {
        parsed.extend(Rule::from_oci(rule)?);
    }
    let mut asm = Asm {
        prog: vec![
            // R2 = type = ctx->access_type & 0xffff; R3 = access = ctx->access_type >> 16
            insn(LDX_MEM_W, R_TYPE, R1, 0, 0),
            insn(ALU32_AND_K, R_TYPE, 0, 0, 0xffff),
            insn(LDX_MEM_W, R_ACCESS, R1, 0, 0),
            insn(ALU32_RSH_K, R_ACCESS, 0, 0, 16),
            // R4 = ctx->major; R5 = ctx->minor
            insn(LDX_MEM_W, R_MAJOR, R1, 4, 0),
            insn(LDX_MEM_W, R_MINOR, R1, 8, 0),
        ],
        to_verdict: Vec::new(),
        landings: Vec::new(),
    };
    // Last rule first: the first match in the program is the last match in the list. Neighbours
    // of one device type share one type test.
    let mut rest: &[Rule] = &parsed;
    while let Some(last) = rest.last() {
        if last.matches_everything() {
            // Type `a`: nothing before it in the list can be reached.
            asm.rule(&[], last.allow);
            return Ok(asm.finish());
        }
        let run = rest
            .iter()
            .rev()
            .take_while(|r| r.dev_type == last.dev_type)
            .count();
        // dev_type is Some: only type `a` rules have none, and they match everything.
        let dev_type = last.dev_type.unwrap_or_default();
        let skip_block = asm.push(insn(JNE_K, R_TYPE, 0, 0, dev_type));
        emit_block(&mut asm, &rest[rest.len() - run..]);
        asm.land_here(skip_block);
        rest = &rest[..rest.len() - run];
    }
    Ok(asm.finish())
}

/// The rules of one device type, last first. Within a run of neighbours with one verdict the
/// order does not matter (the first match among them gives the same verdict), so the exact nodes
/// of one major in such a run share one test of the major.
fn emit_block(asm: &mut Asm, block: &[Rule]) {
    let mut rules = block.iter().rev().peekable();
    while let Some(first) = rules.next() {
        let mut run = vec![first];
        while let Some(next) = rules.next_if(|r| r.allow == first.allow) {
            run.push(next);
        }
        let mut grouped = vec![false; run.len()];
        for i in 0..run.len() {
            if grouped[i] {
                continue;
            }
            let checks = run[i].checks();
            if checks.is_empty() {
                // Every device of the type: the rest of the block is unreachable.
                asm.rule(&[], first.allow);
                return;
            }
            let Some((major, _)) = run[i].exact_node() else {
                asm.rule(&checks, first.allow);
                continue;
            };
            let skip = asm.push(insn(JNE_K, R_MAJOR, 0, 0, major));
            for j in i..run.len() {
                match run[j].exact_node() {
                    Some((m, minor)) if m == major && !grouped[j] => {
                        grouped[j] = true;
                        asm.jump_to_verdict(insn(JEQ_K, R_MINOR, 0, 0, minor), first.allow);
                    }
                    _ => {}
                }
            }
            asm.land_here(skip);
        }
    }
}

/// Random rule lists for the tests here and the kernel's load test in `devices`.
#[cfg(test)]
pub(crate) mod random {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

    /// xorshift64: reproducible without a crate.
    pub(crate) struct Random(pub(crate) u64);

    impl Random {
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }

        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[self.below(from.len() as u64) as usize]
        }

        /// Up to 12 rules over a few majors and minors, so that rules overlap often.
        pub(crate) fn rules(&mut self) -> Vec<LinuxDeviceCgroup> {
            let n = self.below(13);
            (0..n)
                .map(|_| {
                    let mut b = LinuxDeviceCgroupBuilder::default()
                        .allow(self.below(3) != 0)
                        .typ(self.pick(&[
                            LinuxDeviceType::A,
                            LinuxDeviceType::B,
                            LinuxDeviceType::C,
                            LinuxDeviceType::C,
                        ]))
                        .access(self.pick(&["r", "w", "m", "rw", "rm", "wm", "rwm", "rwm"]));
                    if let Some(major) = self.pick(&[None, Some(1i64), Some(5), Some(136)]) {
                        b = b.major(major);
                    }
                    if let Some(minor) = self.pick(&[None, Some(0i64), Some(2), Some(3)]) {
                        b = b.minor(minor);
                    }
                    b.build().unwrap()
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    /// A userspace interpreter for exactly the instructions `compile` emits.
    fn run(prog: &[Insn], dev_type: i32, major: u32, minor: u32, access: i32) -> u64 {
        let ctx = [((access as u32) << 16) | dev_type as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[dst] = u64::from(r[dst] as u32 & i.imm as u32),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_K => r[dst] = u64::from(i.imm as u32),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc = (pc as isize + i.off as isize) as usize;
                    }
                }
                JEQ_K => {
                    if r[dst] == i.imm as i64 as u64 {
                        pc = (pc as isize + i.off as isize) as usize;
                    }
                }
                JNE_X => {
                    if r[dst] != r[src] {
                        pc = (pc as isize + i.off as isize) as usize;
                    }
                }
                JEQ_X => {
                    if r[dst] == r[src] {
                        pc = (pc as isize + i.off as isize) as usize;
                    }
                }
                JA => pc = (pc as isize + i.off as isize) as usize,
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    const R: i32 = ACC_READ;
    const W: i32 = ACC_WRITE;
    const M: i32 = ACC_MKNOD;
    use LinuxDeviceType::{A, B, C};

    /// containerd's default: deny all, then the usual allow list.
    fn containerd_rules() -> Vec<LinuxDeviceCgroup> {
        vec![
            rule(false, Some(A), None, None, "rwm"),
            rule(true, Some(C), None, None, "m"),
            rule(true, Some(B), None, None, "m"),
            rule(true, Some(C), Some(1), Some(3), "rwm"),
            rule(true, Some(C), Some(1), Some(5), "rwm"),
            rule(true, Some(C), Some(136), None, "rwm"),
            rule(true, Some(C), Some(5), Some(2), "rwm"),
            rule(true, Some(C), Some(10), Some(200), "rwm"),
        ]
    }

    #[test]
    fn verdict_table() {
        let prog = compile(&containerd_rules()).unwrap();
        let table = [
            (DEV_CHAR, 1, 3, R | W, 1),     // /dev/null
            (DEV_CHAR, 1, 5, R, 1),         // /dev/zero
            (DEV_CHAR, 136, 7, R | W, 1),   // a pts
            (DEV_CHAR, 5, 2, R | W | M, 1), // ptmx
            (DEV_CHAR, 10, 200, R, 1),      // tun
            (DEV_CHAR, 8, 0, M, 1),         // mknod any char
            (DEV_BLOCK, 8, 0, M, 1),        // mknod any block
            (DEV_BLOCK, 8, 0, R, 0),        // read a disk
            (DEV_BLOCK, 8, 0, M | R, 0),    // mknod+read: read is not covered
            (DEV_CHAR, 1, 1, R, 0),         // /dev/mem
            (DEV_CHAR, 1, 4, W, 0),
            (DEV_CHAR, 10, 201, R, 0),
        ];
        for (t, major, minor, access, want) in table {
            assert_eq!(
                run(&prog, t, major, minor, access),
                want,
                "type {t} {major}:{minor} access {access}"
            );
        }
    }

    #[test]
    fn neighbours_of_one_type_share_one_type_test() {
        let prog = compile(&containerd_rules()).unwrap();
        let type_tests = prog
            .iter()
            .filter(|i| i.code == JNE_K && i.regs & 0xf == R_TYPE)
            .count();
        // Last to first: c c c c c (one test), b (one), c (one), then the catch-all.
        assert_eq!(type_tests, 3);
    }

    #[test]
    fn last_match_wins() {
        let rules = vec![
            rule(false, Some(A), None, None, "rwm"),
            rule(true, Some(C), Some(1), None, "rw"),
            rule(false, Some(C), Some(1), Some(1), "w"),
        ];
        let prog = compile(&rules).unwrap();
        assert_eq!(run(&prog, DEV_CHAR, 1, 1, R), 1);
        assert_eq!(run(&prog, DEV_CHAR, 1, 1, W), 0);
        assert_eq!(
            run(&prog, DEV_CHAR, 1, 1, R | W),
            0,
            "deny of w overlaps r|w"
        );
        assert_eq!(run(&prog, DEV_CHAR, 1, 9, R | W), 1);
        assert_eq!(run(&prog, DEV_CHAR, 1, 9, M), 0, "m was never allowed");
    }

    #[test]
    fn allow_all_then_deny() {
        let rules = vec![
            rule(true, Some(A), None, None, "rwm"),
            rule(false, Some(B), Some(8), None, "rwm"),
        ];
        let prog = compile(&rules).unwrap();
        assert_eq!(run(&prog, DEV_BLOCK, 8, 1, R), 0);
        assert_eq!(run(&prog, DEV_BLOCK, 9, 1, R), 1);
        assert_eq!(run(&prog, DEV_CHAR, 8, 1, R), 1);
    }

    #[test]
    fn rules_before_a_catch_all_are_not_emitted() {
        let rules = vec![
            rule(true, Some(C), Some(1), Some(3), "rwm"),
            rule(false, Some(A), None, None, ""),
        ];
        let prog = compile(&rules).unwrap();
        assert_eq!(
            prog.len(),
            6 + 1 + 2,
            "prologue, the catch-all's jump, its verdict"
        );
        assert_eq!(run(&prog, DEV_CHAR, 1, 3, R), 0);
    }

    #[test]
    fn no_rules_denies_everything_and_fifo_rules_are_ignored() {
        let prog = compile(&[rule(true, Some(LinuxDeviceType::P), None, None, "rwm")]).unwrap();
        assert_eq!(run(&prog, DEV_CHAR, 1, 3, R), 0);
    }

    /// The rules read in order, the last match deciding: what the program must compute.
    fn reference(
        rules: &[LinuxDeviceCgroup],
        dev_type: i32,
        major: i32,
        minor: i32,
        access: i32,
    ) -> u64 {
        let mut verdict = 0;
        for rule in rules.iter().filter_map(|r| Rule::from_oci(r).unwrap()) {
            let covers = if rule.allow {
                access & rule.access == access
            } else {
                access & rule.access != 0
            };
            if rule.dev_type.is_none_or(|t| t == dev_type)
                && rule.major.is_none_or(|m| m == major)
                && rule.minor.is_none_or(|m| m == minor)
                && covers
            {
                verdict = u64::from(rule.allow);
            }
        }
        verdict
    }

    #[test]
    fn random_rule_lists_agree_with_reading_the_rules_in_order() {
        let mut random = random::Random(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let rules = random.rules();
            let prog = compile(&rules).unwrap();
            for dev_type in [DEV_BLOCK, DEV_CHAR] {
                for major in [1, 5, 136, 7] {
                    for minor in [0, 2, 3, 9] {
                        for access in 1..=ACC_ALL {
                            assert_eq!(
                                run(&prog, dev_type, major as u32, minor as u32, access),
                                reference(&rules, dev_type, major, minor, access),
                                "type {dev_type} {major}:{minor} access {access} rules {:?}",
                                rules.iter().map(ToString::to_string).collect::<Vec<_>>()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn exact_nodes_of_one_major_share_its_test() {
        // runc's defaults after deny-all: five 1:N nodes, 5:0 and 5:2.
        let prog = compile(&containerd_rules()).unwrap();
        let major_tests = |major| {
            prog.iter()
                .filter(|i| i.code == JNE_K && i.regs & 0xf == R_MAJOR && i.imm == major)
                .count()
        };
        assert_eq!(major_tests(1), 1);
        assert_eq!(major_tests(5), 1);
    }

    #[test]
    fn wildcard_minus_one_and_bad_input() {
        let prog = compile(&[rule(true, Some(C), Some(-1), Some(-1), "r")]).unwrap();
        assert_eq!(run(&prog, DEV_CHAR, 42, 42, R), 1);
        assert_eq!(run(&prog, DEV_CHAR, 42, 42, W), 0);
        assert!(compile(&[rule(true, Some(C), Some(1), Some(3), "x")]).is_err());
        assert!(compile(&[rule(true, Some(C), Some(-7), Some(3), "r")]).is_err());
    }
}
