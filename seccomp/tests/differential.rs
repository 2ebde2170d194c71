//! husk's compiler against libseccomp (what runc and crun install): both programs run through
//! the same interpreter over every architecture, syscall number and argument pattern of interest
//! must give identical verdicts (action and data).

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use libseccomp::ScmpArch;
use oci_spec::runtime::{Arch, LinuxSeccomp};

const ALL_AUDIT: [u32; 7] = [
    AUDIT_ARCH_X86_64,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_ARM,
    AUDIT_ARCH_RISCV64,
    AUDIT_ARCH_PPC64LE,
    0x1234_5678,
];

const ARCHES: [(Arch, ScmpArch); 7] = [
    (Arch::ScmpArchX86_64, ScmpArch::X8664),
    (Arch::ScmpArchX86, ScmpArch::X86),
    (Arch::ScmpArchX32, ScmpArch::X32),
    (Arch::ScmpArchAarch64, ScmpArch::Aarch64),
    (Arch::ScmpArchArm, ScmpArch::Arm),
    (Arch::ScmpArchRiscv64, ScmpArch::Riscv64),
    (Arch::ScmpArchPpc64le, ScmpArch::Ppc64Le),
];

fn audit_of(arch: Arch) -> u32 {
    match arch {
        Arch::ScmpArchX86_64 | Arch::ScmpArchX32 => AUDIT_ARCH_X86_64,
        Arch::ScmpArchX86 => AUDIT_ARCH_I386,
        Arch::ScmpArchAarch64 => AUDIT_ARCH_AARCH64,
        Arch::ScmpArchArm => AUDIT_ARCH_ARM,
        Arch::ScmpArchRiscv64 => AUDIT_ARCH_RISCV64,
        Arch::ScmpArchPpc64le => AUDIT_ARCH_PPC64LE,
        other => panic!("{other}"),
    }
}

/// Syscall numbers to probe: every ordinary number, the x32 range, ARM private calls, edges.
fn numbers(rng: &mut Rng) -> Vec<u32> {
    let mut nrs: Vec<u32> = (0..=1100).collect();
    nrs.extend((0..=1100).map(|n| 0x4000_0000 | n));
    nrs.extend(0x0f_0000..=0x0f_0010);
    nrs.extend([
        0x3fff_ffff,
        0x7fff_ffff,
        0x8000_0000,
        0xbfff_ffff,
        0xffff_fffe,
        u32::MAX,
    ]);
    nrs.extend((0..64).map(|_| rng.next() as u32));
    nrs
}

/// Numbers whose verdict depends on arguments: those of every name in a rule with conditions,
/// on any architecture, plus the socketcall/ipc multiplexers.
fn conditional_numbers(profile: &LinuxSeccomp) -> BTreeSet<u32> {
    let mut set = BTreeSet::from([102, 117]);
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        if rule.args().as_deref().unwrap_or_default().is_empty() {
            continue;
        }
        for name in rule.names() {
            for (arch, _) in ARCHES {
                if let Ok(Some(n)) = husk_seccomp::syscall_number(name, arch) {
                    set.insert(n);
                }
            }
        }
    }
    set
}

/// Argument values around every comparison of the profile, with the high word varied.
fn argument_pool(profile: &LinuxSeccomp) -> Vec<u64> {
    let mut pool = BTreeSet::from([0, 1, u64::MAX, 0xffff_ffff, 0x1_0000_0000]);
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        for a in rule.args().as_deref().unwrap_or_default() {
            let two = a.value_two().unwrap_or(0);
            for v in [a.value(), two, a.value() & two, a.value() ^ two, !a.value()] {
                for w in [v, v.wrapping_add(1), v.wrapping_sub(1)] {
                    pool.extend([
                        w,
                        w & 0xffff_ffff,
                        w | 0xffff_ffff_0000_0000,
                        w.wrapping_add(1 << 32),
                        w.wrapping_sub(1 << 32),
                    ]);
                }
            }
        }
    }
    pool.into_iter().collect()
}

struct Mismatch {
    arch: u32,
    nr: u32,
    args: [u64; 6],
    husk: u32,
    libseccomp: u32,
}

/// Runs both programs over the probes; `skip(arch, nr)` excludes numbers of syscalls libseccomp
/// 2.5.4 does not know. Returns the number of probes compared.
fn compare(
    profile: &LinuxSeccomp,
    rng: &mut Rng,
    arg_vectors: usize,
    skip: &dyn Fn(u32, u32) -> bool,
) -> usize {
    let husk = husk_seccomp::compile(profile).expect("husk compile");
    let reference = libseccomp_program(profile);
    let conditional = conditional_numbers(profile);
    let pool = argument_pool(profile);
    let mut mismatches = Vec::new();
    let mut probes = 0;
    for nr in numbers(rng) {
        let vectors = if conditional.contains(&(nr & !0x4000_0000)) {
            arg_vectors
        } else {
            2
        };
        for v in 0..vectors {
            let mut args = [0u64; 6];
            if v > 0 {
                for a in &mut args {
                    *a = if rng.chance(80) {
                        *rng.pick(&pool)
                    } else {
                        rng.next()
                    };
                }
            }
            for &arch in &ALL_AUDIT {
                if skip(arch, nr) {
                    continue;
                }
                let data = SeccompData {
                    nr,
                    arch,
                    instruction_pointer: rng.next(),
                    args,
                };
                let (h, l) = (run(husk.instructions(), &data), run(&reference, &data));
                probes += 1;
                if h != l && mismatches.len() < 12 {
                    mismatches.push(Mismatch {
                        arch,
                        nr,
                        args,
                        husk: h,
                        libseccomp: l,
                    });
                }
            }
        }
    }
    if !mismatches.is_empty() {
        let lines: Vec<String> = mismatches
            .iter()
            .map(|m| {
                format!(
                    "arch {:#x} nr {:#x} args {:x?}: husk {:#x}, libseccomp {:#x}",
                    m.arch, m.nr, m.args, m.husk, m.libseccomp
                )
            })
            .collect();
        panic!(
            "verdicts differ:\n{}\nprofile: {}",
            lines.join("\n"),
            serde_json::to_string(profile).unwrap()
        );
    }
    probes
}

/// `(audit arch, nr)` of syscalls named in the profile that libseccomp 2.5.4 cannot resolve
/// (added to Linux after its table): there libseccomp falls back to the default action.
fn unknown_to_libseccomp(profile: &LinuxSeccomp) -> HashMap<u32, BTreeSet<u32>> {
    let mut out: HashMap<u32, BTreeSet<u32>> = HashMap::new();
    for rule in profile.syscalls().as_deref().unwrap_or_default() {
        for name in rule.names().iter().filter(|n| !libseccomp_knows(n)) {
            for (arch, _) in ARCHES {
                if let Ok(Some(n)) = husk_seccomp::syscall_number(name, arch) {
                    out.entry(audit_of(arch)).or_default().insert(n);
                }
            }
        }
    }
    out
}

#[test]
fn docker_default_profile_matches_libseccomp() {
    let profile = docker_profile();
    let unknown = unknown_to_libseccomp(&profile);
    let skip = |arch: u32, nr: u32| unknown.get(&arch).is_some_and(|s| s.contains(&nr));
    let probes = compare(&profile, &mut Rng::new(0x5eed), 64, &skip);
    let skipped: usize = unknown.values().map(BTreeSet::len).sum();
    eprintln!("docker profile: {probes} probes agree; {skipped} (arch, nr) pairs of syscalls unknown to libseccomp 2.5.4 skipped");
    assert!(probes > 10_000);
}

const OPS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

fn random_action(rng: &mut Rng, allow_notify: bool) -> serde_json::Value {
    let errno = *rng.pick(&[1u32, 38, 13, 0, 255]);
    match rng.below(if allow_notify { 9 } else { 8 }) {
        0 => serde_json::json!({"action": "SCMP_ACT_ALLOW"}),
        1 => serde_json::json!({"action": "SCMP_ACT_ERRNO", "errnoRet": errno}),
        2 => serde_json::json!({"action": "SCMP_ACT_ERRNO"}),
        3 => serde_json::json!({"action": "SCMP_ACT_KILL_PROCESS"}),
        4 => {
            serde_json::json!({"action": if rng.chance(50) { "SCMP_ACT_KILL" } else { "SCMP_ACT_KILL_THREAD" }})
        }
        5 => serde_json::json!({"action": "SCMP_ACT_TRAP"}),
        6 => serde_json::json!({"action": "SCMP_ACT_TRACE", "errnoRet": errno}),
        7 => serde_json::json!({"action": "SCMP_ACT_LOG"}),
        _ => serde_json::json!({"action": "SCMP_ACT_NOTIFY"}),
    }
}

fn random_value(rng: &mut Rng) -> u64 {
    let r = rng.next();
    let choices = [
        0,
        1,
        2,
        7,
        38,
        40,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0005,
        0xffff_ffff_0000_0000,
        0xffff_ffff_ffff_fff0,
        u64::MAX,
        r,
        r & 0xffff,
        r & 0xffff_ffff,
    ];
    *rng.pick(&choices)
}

/// A pseudo-random profile: random default action, architectures, and rules with every
/// operator. Each syscall name keeps one action across rules and has at most one conditional
/// rule: libseccomp 2.5.4 merges several argument chains of one syscall into a tree that drops
/// alternatives (e.g. `a4 <= 0x100000005` OR `a4 < 0x7fffffff` rejects a4 = 0xfffffffe), so
/// there it is no reference; `semantics.rs` checks those cases against the profile itself.
fn random_profile(rng: &mut Rng, names: &[&str]) -> serde_json::Value {
    let default = random_action(rng, false);
    let mut arches: Vec<&str> = Vec::new();
    for (name, _) in [
        ("SCMP_ARCH_X86_64", 0),
        ("SCMP_ARCH_X86", 0),
        ("SCMP_ARCH_X32", 0),
        ("SCMP_ARCH_AARCH64", 0),
        ("SCMP_ARCH_ARM", 0),
        ("SCMP_ARCH_RISCV64", 0),
        ("SCMP_ARCH_PPC64LE", 0),
    ] {
        if rng.chance(55) {
            arches.push(name);
        }
    }
    let universe: Vec<&str> = (0..40).map(|_| *rng.pick(names)).collect();
    let mut action_of: HashMap<&str, serde_json::Value> = HashMap::new();
    let mut has_conditional: Vec<&str> = Vec::new();
    let mut syscalls = Vec::new();
    for _ in 0..(10 + rng.below(40)) {
        let action = random_action(rng, true);
        let count = *rng.pick(&[0, 0, 1, 1, 1, 2, 2, 3]);
        let mut rule_names = Vec::new();
        for _ in 0..(1 + rng.below(4)) {
            let name = *rng.pick(&universe);
            let group = multiplex_group(name);
            let fixed = action_of.entry(group).or_insert_with(|| action.clone());
            let second_conditional = count > 0 && has_conditional.contains(&group);
            if *fixed == action && !rule_names.contains(&name) && !second_conditional {
                rule_names.push(name);
            }
        }
        if rule_names.is_empty() {
            continue;
        }
        if count > 0 {
            has_conditional.extend(rule_names.iter().map(|n| multiplex_group(n)));
        }
        let mut args = Vec::new();
        let mut indexes: Vec<u64> = (0..6).collect();
        for _ in 0..count {
            let index = indexes.remove(rng.below(indexes.len()));
            let op = *rng.pick(&OPS);
            let mut arg = serde_json::json!({"index": index, "value": random_value(rng), "op": op});
            if op == "SCMP_CMP_MASKED_EQ" || rng.chance(20) {
                arg["valueTwo"] = random_value(rng).into();
            }
            args.push(arg);
        }
        let mut rule = action.clone();
        rule["names"] = rule_names.into();
        if !args.is_empty() {
            rule["args"] = args.into();
        }
        syscalls.push(rule);
    }
    let mut profile = serde_json::json!({
        "defaultAction": default["action"],
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(errno) = default.get("errnoRet") {
        profile["defaultErrnoRet"] = errno.clone();
    }
    profile
}

/// libseccomp 2.5.4 bug: when the first syscall entry of an architecture is a pseudo syscall
/// the architecture lacks (e.g. "socketcall" on ARM), `_gen_bpf_arch` skips the entry that was
/// to load `nr`, and the block compares syscall numbers against the architecture token: every
/// rule of that architecture is dead. Such programs are no reference.
fn loads_nr_in_every_block(prog: &[libc::sock_filter]) -> bool {
    const LD_ABS: u16 = 0x20;
    const JEQ: u16 = 0x15;
    // libseccomp chains the architecture checks through their false branches.
    let mut pc = 1;
    while let Some(check) = prog
        .get(pc)
        .filter(|i| i.code == JEQ && ALL_AUDIT.contains(&i.k))
    {
        let target = &prog[pc + 1 + usize::from(check.jt)];
        if !((target.code == LD_ABS && target.k == 0) || target.code == 0x06) {
            return false;
        }
        pc += 1 + usize::from(check.jf);
    }
    true
}

/// On x86, s390x and ppc64 a rule on a socket or SysV IPC call also matches its multiplexer
/// (socketcall/ipc with arg0 = call): for the generator they count as one syscall.
fn multiplex_group(name: &str) -> &str {
    const SOCKET: [&str; 11] = [
        "socket",
        "bind",
        "connect",
        "accept4",
        "sendto",
        "recvmsg",
        "send",
        "recv",
        "socketcall",
        "accept",
        "listen",
    ];
    const IPC: [&str; 4] = ["shmget", "semop", "msgrcv", "ipc"];
    if SOCKET.contains(&name) {
        "socketcall"
    } else if IPC.contains(&name) {
        "ipc"
    } else {
        name
    }
}

#[test]
fn random_profiles_match_libseccomp() {
    let mut rng = Rng::new(0x00c0_ffee_1234_5678);
    // Names libseccomp 2.5.4 knows, the multiplexed socket/IPC calls, and a name nobody knows.
    // (Not sync_file_range2: libseccomp 2.5.4 has no number for it on ARM, the kernel has 341.)
    let mut names: Vec<&str> = Vec::new();
    let candidates = [
        "read",
        "write",
        "open",
        "openat",
        "close",
        "mmap",
        "mprotect",
        "ioctl",
        "socket",
        "bind",
        "connect",
        "accept4",
        "sendto",
        "recvmsg",
        "send",
        "recv",
        "shmget",
        "semop",
        "msgrcv",
        "ipc",
        "socketcall",
        "clone",
        "clone3",
        "personality",
        "mkdir",
        "mkdirat",
        "chown32",
        "fstat64",
        "rt_sigaction",
        "ptrace",
        "kill",
        "futex",
        "set_tls",
        "cacheflush",
        "arch_prctl",
        "epoll_wait",
        "getdents64",
        "execve",
        "execveat",
        "preadv2",
        "prctl",
        "unshare",
        "setns",
        "mount",
        "umount2",
        "keyctl",
        "io_setup",
        "memfd_create",
        "pidfd_open",
        "riscv_flush_icache",
        "no_such_syscall",
    ];
    for name in candidates {
        names.push(name);
    }
    let (mut total, mut compared, mut broken) = (0, 0, 0);
    for round in 0..60 {
        let json = random_profile(&mut rng, &names);
        let profile: LinuxSeccomp = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("round {round}: {e}: {json}"));
        if !loads_nr_in_every_block(&libseccomp_program(&profile)) {
            broken += 1;
            continue;
        }
        total += compare(&profile, &mut rng, 40, &|_, _| false);
        compared += 1;
    }
    eprintln!("random profiles: {compared} compared ({total} probes agree), {broken} skipped for the libseccomp 2.5.4 bug");
    assert!(compared >= 40, "{compared}");
}

/// Every syscall libseccomp 2.5.4 names on an architecture has the same number in husk's table.
#[test]
fn syscall_tables_agree_with_libseccomp() {
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for (arch, scmp) in ARCHES {
        let ranges: Vec<u32> = match arch {
            Arch::ScmpArchX32 => (0x4000_0000..0x4000_0000 + 1100).collect(),
            Arch::ScmpArchArm => (0..1100).chain(0x0f_0000..0x0f_0010).collect(),
            _ => (0..1100).collect(),
        };
        for nr in ranges {
            let Some(name) = libseccomp_name(nr, scmp) else {
                continue;
            };
            checked += 1;
            let ours = husk_seccomp::syscall_number(&name, arch).unwrap();
            if ours != Some(nr) {
                disagreements.push(format!("{arch}: {name} libseccomp {nr:#x} husk {ours:x?}"));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {checked}:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(checked > 2500, "{checked}");
}
