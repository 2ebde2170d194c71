//! OCI hooks: each appends its name to one log file; the order and the points of the lifecycle at
//! which they run are checked. prestart, createRuntime, poststart, poststop run in the runtime's
//! namespaces; createContainer in the container's before pivot_root (host paths still resolve);
//! startContainer in the container after pivot_root (container paths).

use std::fs;
use std::path::Path;

use husk_tests::{Bundle, Husk};
use serde_json::{json, Value};

/// The order the runtime spec gives the hooks of one container's life.
const EVERY_HOOK_IN_ORDER: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

const HOOK_ENV: [&str; 1] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];

/// A hook running `script` with /bin/sh.
fn sh_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script], "env": HOOK_ENV})
}

/// Installs one hook of every kind logging to `<log_dir>/order` (bind-mounted at /hooklog for
/// startContainer); createRuntime also saves the state it gets on stdin to `<log_dir>/state.json`.
fn install_hooks(bundle: &mut Bundle, log_dir: &Path) {
    let order = log_dir.join("order");
    let order = order.display();
    let append = |name: &str| sh_hook(&format!("echo {name} >> {order}"));
    fs::create_dir(bundle.rootfs().join("hooklog")).expect("mkdir /hooklog");
    bundle.bind(log_dir, "/hooklog");
    let hooks = json!({
        "prestart": [append("prestart")],
        "createRuntime": [sh_hook(&format!("echo createRuntime >> {order}; cat > {}", log_dir.join("state.json").display()))],
        "createContainer": [append("createContainer")],
        "startContainer": [sh_hook("echo startContainer >> /hooklog/order")],
        "poststart": [append("poststart")],
        "poststop": [append("poststop")],
    });
    bundle.edit(|c| c["hooks"] = hooks);
}

fn logged(log_dir: &Path) -> Vec<String> {
    fs::read_to_string(log_dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn hooks_run_in_order_at_create_start_delete() {
    let husk = Husk::new();
    let log_dir = tempfile::tempdir().expect("tempdir");
    let mut bundle = Bundle::busybox(&["/bin/true"]);
    install_hooks(&mut bundle, log_dir.path());
    let id = husk.new_id("hooks");

    husk.create(&id, &bundle, &[]).assert_ok();
    assert_eq!(
        logged(log_dir.path()),
        ["prestart", "createRuntime", "createContainer"]
    );
    let state = husk.state(&id);
    let hook_state: Value = serde_json::from_str(
        &fs::read_to_string(log_dir.path().join("state.json")).expect("state saved"),
    )
    .expect("createRuntime got JSON on stdin");
    assert_eq!(hook_state["id"], id.as_str(), "{hook_state:#}");
    assert_eq!(hook_state["pid"], state["pid"], "{hook_state:#}");
    assert_eq!(hook_state["bundle"], json!(bundle.path()), "{hook_state:#}");

    husk.start(&id).assert_ok();
    // Everything but poststop, which belongs to delete.
    assert_eq!(logged(log_dir.path()), EVERY_HOOK_IN_ORDER[..5]);
    husk.wait_status(&id, "stopped");
    husk.cmd(&["delete", &id]).assert_ok();
    assert_eq!(logged(log_dir.path()), EVERY_HOOK_IN_ORDER);
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn hooks_run_in_order_with_run() {
    let husk = Husk::new();
    let log_dir = tempfile::tempdir().expect("tempdir");
    let mut bundle = Bundle::busybox(&["/bin/true"]);
    install_hooks(&mut bundle, log_dir.path());
    let id = husk.new_id("hooksrun");
    husk.run(&id, &bundle).assert_ok();
    assert_eq!(logged(log_dir.path()), EVERY_HOOK_IN_ORDER);
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn failing_hook_fails_create_and_leaves_nothing() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&["/bin/true"]);
    bundle.edit(|c| c["hooks"] = json!({"createRuntime": [sh_hook("exit 7")]}));
    let id = husk.new_id("hookfail");
    let out = husk.create(&id, &bundle, &[]);
    assert!(out.code().is_some_and(|c| c != 0), "{}", out.describe());
    husk.assert_nothing_left(&id, &bundle);
}
