//! Bad input: each case fails with its message on stderr, a non-zero exit, and leaves nothing in
//! --root, the cgroupfs, the mount table or the process table. Plus the JSON log format.

use std::fs;

use husk_tests::{Bundle, Husk};
use serde_json::{json, Value};

/// `husk create` of `bundle` fails with `message`; nothing is left and the id is unknown.
fn assert_create_fails(husk: &Husk, bundle: &Bundle, name: &str, message: &str) {
    let id = husk.new_id(name);
    husk.create(&id, bundle, &[]).assert_fails_with(message);
    husk.assert_nothing_left(&id, bundle);
    husk.cmd(&["state", &id])
        .assert_fails_with("container does not exist");
}

/// `husk run` of `bundle` fails with `message` and leaves nothing.
fn assert_run_fails(husk: &Husk, bundle: &Bundle, name: &str, message: &str) {
    let id = husk.new_id(name);
    husk.run(&id, bundle).assert_fails_with(message);
    husk.assert_nothing_left(&id, bundle);
}

#[test]
fn missing_config_json() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/bin/true"]);
    fs::remove_file(bundle.config_path()).expect("remove config.json");
    assert_create_fails(
        &husk,
        &bundle,
        "noconfig",
        "config.json: no such file or directory",
    );
}

#[test]
fn malformed_config_json() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/bin/true"]);
    fs::write(bundle.config_path(), "{\"ociVersion\": \"1.0.2\", ").expect("write");
    assert_create_fails(&husk, &bundle, "badjson", "config.json: invalid JSON");
}

#[test]
fn empty_process_args() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&["/bin/true"]);
    bundle.edit(|c| c["process"]["args"] = json!([]));
    assert_create_fails(&husk, &bundle, "noargs", "process.args: must not be empty");
}

#[test]
fn missing_rootfs() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/bin/true"]);
    fs::remove_dir_all(bundle.rootfs()).expect("remove rootfs");
    // No contract fixes the wording: the message names the rootfs and says it is missing.
    let id = husk.new_id("norootfs");
    let out = husk.create(&id, &bundle, &[]);
    out.assert_fails_with(&bundle.rootfs().display().to_string());
    assert!(out.stderr.contains("no such"), "{}", out.describe());
    husk.assert_nothing_left(&id, &bundle);
}

/// The runtime builds /dev while the init mounts; an option the kernel refuses there is left to
/// the init, which reports it as its own mount step.
#[test]
fn a_dev_option_the_kernel_refuses_is_reported_by_the_init() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&["/bin/true"]);
    bundle.edit(|c| {
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        let dev = mounts
            .iter_mut()
            .find(|m| m["destination"] == "/dev")
            .expect("a /dev mount");
        dev["options"] = json!(["nosuid", "mode=755", "size=lots"]);
    });
    assert_create_fails(
        &husk,
        &bundle,
        "devopt",
        "mount tmpfs on /dev: invalid argument",
    );
}

#[test]
fn executable_not_in_path() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["nosuch"]);
    assert_run_fails(
        &husk,
        &bundle,
        "notfound",
        "exec \"nosuch\": executable file not found in $PATH",
    );
}

#[test]
fn executable_path_does_not_exist() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/bin/nosuch"]);
    assert_run_fails(
        &husk,
        &bundle,
        "noent",
        "exec \"/bin/nosuch\": no such file or directory",
    );
}

#[test]
fn executable_without_exec_permission() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/etc/passwd"]);
    assert_run_fails(
        &husk,
        &bundle,
        "noexec",
        "exec \"/etc/passwd\": permission denied",
    );
}

#[test]
fn duplicate_id_leaves_the_first_container_alone() {
    let husk = Husk::new();
    let first = Bundle::busybox(&["sleep", "100"]);
    let second = Bundle::busybox(&["sleep", "100"]);
    let id = husk.new_id("dup");
    husk.create(&id, &first, &[]).assert_ok();
    let before = husk.state(&id);

    let pid_file = second.path().join("init.pid");
    husk.create(
        &id,
        &second,
        &["--pid-file", pid_file.to_str().expect("utf-8")],
    )
    .assert_fails_with("container with given ID already exists");
    assert!(!pid_file.exists(), "the failed create wrote a pid file");

    let after = husk.state(&id);
    assert_eq!(after, before, "the first container changed");
    let pid = after["pid"].as_i64().expect("pid");
    assert!(
        fs::metadata(format!("/proc/{pid}")).is_ok(),
        "the first container's init {pid} is gone"
    );
    husk.start(&id).assert_ok();
    assert_eq!(husk.state(&id)["status"], "running");
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &first);
    husk.assert_nothing_left(&id, &second);
}

#[test]
fn invalid_container_ids() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/bin/true"]);
    // A name nobody else uses next to the --root dir, to see whether `../<name>` escaped it.
    let outside_name = format!("husk-outside-{}", std::process::id());
    let outside = husk
        .root()
        .parent()
        .expect("root has a parent")
        .join(&outside_name);
    let escaping = format!("../{outside_name}");
    for id in ["../x", "a/b", "has space", "..", escaping.as_str()] {
        husk.create(id, &bundle, &[])
            .assert_fails_with("invalid container ID format");
        let entries: Vec<_> = fs::read_dir(husk.root())
            .expect("read root")
            .flatten()
            .collect();
        assert!(
            entries.is_empty(),
            "create {id:?} left {entries:?} in --root"
        );
    }
    let created_outside = outside.exists();
    let _ = fs::remove_dir_all(&outside);
    assert!(
        !created_outside,
        "create {escaping:?} wrote {}",
        outside.display()
    );
    let cgroup_outside = std::path::Path::new("/sys/fs").join(&outside_name);
    assert!(
        !cgroup_outside.exists(),
        "create {escaping:?} made {}",
        cgroup_outside.display()
    );
}

#[test]
fn unknown_container() {
    let husk = Husk::new();
    for args in [
        &["state", "no-such-container"][..],
        &["kill", "no-such-container", "KILL"][..],
        &["delete", "no-such-container"][..],
        &["start", "no-such-container"][..],
    ] {
        husk.cmd(args).assert_fails_with("container does not exist");
    }
}

#[test]
fn memory_limit_without_memory_controller() {
    let husk = Husk::new();
    let controllers =
        fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").expect("cgroup.controllers");
    assert!(
        !controllers.split_whitespace().any(|c| c == "memory"),
        "this test needs a cgroup2 without the memory controller; have: {controllers}"
    );
    let mut bundle = Bundle::busybox(&["/bin/true"]);
    bundle.edit(|c| c["linux"]["resources"]["memory"] = json!({"limit": 104857600}));
    assert_create_fails(&husk, &bundle, "memlimit", "memory");
}

/// The lines of a `--log-format json` log file, each parsed.
fn json_log_lines(path: &std::path::Path) -> Vec<Value> {
    let text = fs::read_to_string(path).expect("log file written");
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?} is not JSON: {e}"))
        })
        .collect()
}

#[test]
fn json_log_has_one_error_line() {
    let husk = Husk::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("log.json");
    let out = husk
        .invoke()
        .global("--log")
        .global(&log)
        .global("--log-format")
        .global("json")
        .args(&["state", "no-such-container"])
        .output();
    out.assert_fails_with("container does not exist");
    // podman decodes the whole file as one object; containerd takes the last "error" line.
    let lines = json_log_lines(&log);
    assert_eq!(lines.len(), 1, "expected one log line: {lines:#?}");
    assert_eq!(lines[0]["level"], "error", "{:#}", lines[0]);
    assert!(
        lines[0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("container does not exist")),
        "{:#}",
        lines[0]
    );
    assert!(lines[0]["time"].is_string(), "{:#}", lines[0]);
}

#[test]
fn json_log_of_a_failed_create() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["nosuch"]);
    let log = bundle.path().join("log.json");
    let id = husk.new_id("logcreate");
    let message = "exec \"nosuch\": executable file not found in $PATH";
    let out = husk
        .invoke()
        .global("--log")
        .global(&log)
        .global("--log-format=json")
        .arg("create")
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .output();
    out.assert_fails_with(message);
    let lines = json_log_lines(&log);
    assert_eq!(lines.len(), 1, "expected one log line: {lines:#?}");
    assert_eq!(lines[0]["level"], "error", "{:#}", lines[0]);
    assert!(
        lines[0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains(message)),
        "{:#}",
        lines[0]
    );
    husk.assert_nothing_left(&id, &bundle);
}

/// An argument clap rejects still reaches the log file: containerd shows only its last error line.
#[test]
fn json_log_of_a_command_line_error() {
    let husk = Husk::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("log.json");
    let out = husk
        .invoke()
        .global("--log")
        .global(&log)
        .global("--log-format=json")
        .args(&["create", "--no-such-flag", "x"])
        .output();
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    let lines = json_log_lines(&log);
    assert_eq!(lines.len(), 1, "expected one log line: {lines:#?}");
    assert_eq!(lines[0]["level"], "error", "{:#}", lines[0]);
    let msg = lines[0]["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("--no-such-flag"), "{:#}", lines[0]);
}
