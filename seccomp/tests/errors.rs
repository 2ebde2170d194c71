//! Bad profiles: every error names the field. Unknown enum values (actions, architectures,
//! operators, flags) never reach husk: oci-spec 0.10 rejects them while parsing config.json.

use husk_seccomp::{compile, SeccompError};
use oci_spec::runtime::LinuxSeccomp;

fn parse(json: &str) -> Result<LinuxSeccomp, serde_json::Error> {
    serde_json::from_str(json)
}

#[test]
fn oci_spec_rejects_unknown_enum_values_naming_them() {
    let cases = [
        (r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#, "SCMP_ACT_BOGUS"),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}"#,
            "SCMP_ACT_BOGUS",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]}"#,
            "SCMP_ARCH_BOGUS",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}"#,
            "SECCOMP_FILTER_FLAG_BOGUS",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]}"#,
            "SCMP_CMP_BOGUS",
        ),
    ];
    for (json, bogus) in cases {
        let err = parse(json).unwrap_err().to_string();
        assert!(err.contains(&format!("unknown variant `{bogus}`")), "{err}");
    }
}

fn compile_err(json: &str) -> SeccompError {
    compile(&parse(json).unwrap()).unwrap_err()
}

#[test]
fn architectures_without_tables_are_refused() {
    let err = compile_err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_MIPS64"]}"#,
    );
    assert_eq!(
        err,
        SeccompError::UnsupportedArchitecture("SCMP_ARCH_MIPS64".into())
    );
    assert!(err
        .to_string()
        .starts_with("linux.seccomp.architectures: unsupported architecture SCMP_ARCH_MIPS64"));
}

#[test]
fn argument_index_beyond_five_is_refused() {
    let err = compile_err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["write"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    assert_eq!(
        err.to_string(),
        "linux.seccomp.syscalls[1].args[1].index: 6 is not a syscall argument (0-5)"
    );
}

#[test]
fn errno_beyond_sixteen_bits_is_refused() {
    let err = compile_err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}"#,
    );
    assert_eq!(
        err.to_string(),
        "linux.seccomp.syscalls[0].errnoRet: errno 70000 does not fit the 16-bit SECCOMP_RET_DATA"
    );
    let err = compile_err(r#"{"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 65536}"#);
    assert!(
        err.to_string()
            .starts_with("linux.seccomp.defaultErrnoRet: errno 65536"),
        "{err}"
    );
}

#[test]
fn notify_cannot_be_the_default_action() {
    let err = compile_err(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#);
    assert_eq!(
        err.to_string(),
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
    );
}

#[test]
fn a_rule_without_names_is_refused() {
    let err = compile_err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]}"#,
    );
    assert_eq!(err.to_string(), "linux.seccomp.syscalls[0].names: empty");
}

#[test]
fn unknown_syscall_names_are_skipped_not_errors() {
    let filter = compile(
        &parse(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["no_such_syscall", "chown32", "arch_prctl"], "action": "SCMP_ACT_ERRNO"}]}"#)
        .unwrap(),
    )
    .unwrap();
    assert!(filter.len() > 5);
}
