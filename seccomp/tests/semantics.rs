//! Cases libseccomp cannot referee (its merged argument trees drop alternatives) and program
//! shapes the differential tests rarely reach: checked against the profile's meaning directly.

mod common;

use common::{run, SeccompData, AUDIT_ARCH_X86_64};
use husk_seccomp::{compile, SeccompError};
use oci_spec::runtime::{Arch, LinuxSeccomp};

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const fn errno(e: u32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e
}

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).unwrap()
}

fn verdict(prog: &[libc::sock_filter], nr: u32, args: [u64; 6]) -> u32 {
    run(
        prog,
        &SeccompData {
            nr,
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: 0,
            args,
        },
    )
}

const OPENAT: u32 = 257;

#[test]
fn first_matching_conditional_rule_decides() {
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
             "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_GT"}]}
        ]
    })))
    .unwrap();
    let p = f.instructions();
    assert_eq!(verdict(p, OPENAT, [5, 20, 0, 0, 0, 0]), errno(1));
    assert_eq!(verdict(p, OPENAT, [4, 20, 0, 0, 0, 0]), errno(2));
    assert_eq!(verdict(p, OPENAT, [4, 1 << 32, 0, 0, 0, 0]), errno(2));
    assert_eq!(verdict(p, OPENAT, [4, 10, 0, 0, 0, 0]), ALLOW);
    assert_eq!(verdict(p, OPENAT, [5 | 1 << 32, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn the_first_unconditional_rule_overrides_all_others() {
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3},
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4},
            // A zero mask compares nothing: the rule is unconditional but comes too late.
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
             "args": [{"index": 0, "value": 0, "valueTwo": 7, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    })))
    .unwrap();
    for a0 in [0, 5, u64::MAX] {
        assert_eq!(
            verdict(f.instructions(), OPENAT, [a0, 0, 0, 0, 0, 0]),
            errno(3)
        );
    }
}

#[test]
fn repeated_argument_index_means_any_comparison_as_runc() {
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["openat"], "action": "SCMP_ACT_TRAP", "args": [
            {"index": 0, "value": 100, "op": "SCMP_CMP_GT"},
            {"index": 0, "value": 10, "op": "SCMP_CMP_LT"}
        ]}]
    })))
    .unwrap();
    let p = f.instructions();
    assert_eq!(
        verdict(p, OPENAT, [5, 0, 0, 0, 0, 0]),
        libc::SECCOMP_RET_TRAP
    );
    assert_eq!(
        verdict(p, OPENAT, [200, 0, 0, 0, 0, 0]),
        libc::SECCOMP_RET_TRAP
    );
    assert_eq!(verdict(p, OPENAT, [50, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn masked_eq_masks_the_value_too_and_covers_the_high_word() {
    // OCI: value is the mask, valueTwo the value; libseccomp compares (arg & mask) with
    // (valueTwo & mask).
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["openat"], "action": "SCMP_ACT_KILL_PROCESS", "args": [
            {"index": 2, "value": 0xff00_0000_00ffu64, "valueTwo": 0x1200_0000_0034u64 | 0xff_0000, "op": "SCMP_CMP_MASKED_EQ"}
        ]}]
    })))
    .unwrap();
    let p = f.instructions();
    let kill = libc::SECCOMP_RET_KILL_PROCESS;
    assert_eq!(verdict(p, OPENAT, [0, 0, 0x1200_0000_0034, 0, 0, 0]), kill);
    assert_eq!(verdict(p, OPENAT, [0, 0, 0x12ab_cdef_1234, 0, 0, 0]), kill);
    assert_eq!(verdict(p, OPENAT, [0, 0, 0x1300_0000_0034, 0, 0, 0]), ALLOW);
    assert_eq!(verdict(p, OPENAT, [0, 0, 0x1200_0000_0035, 0, 0, 0]), ALLOW);
}

/// Every x86_64 syscall with an argument rule: the program is large enough that conditional
/// jumps need JA trampolines, and every syscall still gets exactly its own verdict.
#[test]
fn long_programs_use_trampolines_and_stay_exact() {
    let names: Vec<String> = (0..470)
        .filter_map(|nr| common::libseccomp_name(nr, libseccomp::ScmpArch::X8664))
        .collect();
    let rules: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            let nr = husk_seccomp::syscall_number(name, Arch::ScmpArchX86_64)
                .unwrap()
                .unwrap();
            serde_json::json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": nr,
                "args": [{"index": 1, "value": u64::from(nr) << 32 | 7, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let f = compile(&profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules
    })))
    .unwrap();
    let ja = (libc::BPF_JMP | libc::BPF_JA) as u16;
    assert!(
        f.instructions().iter().any(|i| i.code == ja),
        "no trampoline in {} instructions",
        f.len()
    );
    for name in &names {
        let nr = husk_seccomp::syscall_number(name, Arch::ScmpArchX86_64)
            .unwrap()
            .unwrap();
        let hit = [0, u64::from(nr) << 32 | 7, 0, 0, 0, 0];
        assert_eq!(verdict(f.instructions(), nr, hit), errno(nr), "{name}");
        for miss in [hit[1] ^ 1 << 40, hit[1] ^ 1] {
            assert_eq!(
                verdict(f.instructions(), nr, [0, miss, 0, 0, 0, 0]),
                ALLOW,
                "{name}"
            );
        }
    }
}

#[test]
fn programs_beyond_the_kernel_limit_are_refused() {
    let names: Vec<String> = (0..470)
        .filter_map(|nr| common::libseccomp_name(nr, libseccomp::ScmpArch::X8664))
        .collect();
    let rules: Vec<serde_json::Value> = (0..4)
        .map(|i| {
            serde_json::json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
                "args": [{"index": i, "value": 1, "op": "SCMP_CMP_GT"}]})
        })
        .collect();
    let err = compile(&profile(
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}),
    ))
    .unwrap_err();
    assert!(
        matches!(err, SeccompError::TooManyInstructions { limit: 4096, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("4096 (BPF_MAXINSNS)"), "{err}");
}

#[test]
fn dispatch_depth_is_logarithmic() {
    // The docker profile allows ~370 syscalls; a denied one must be decided after a handful of
    // comparisons, not a linear walk.
    let f = compile(&common::docker_profile()).unwrap();
    let steps = |nr: u32| {
        let data = SeccompData {
            nr,
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: 0,
            args: [0; 6],
        };
        common::count_steps(f.instructions(), &data)
    };
    for nr in [0, 1, 200, 333, 435, 1000, 0x4000_0001] {
        assert!(steps(nr) <= 16, "nr {nr}: {} steps", steps(nr));
    }
}
