//! The QoS engine through the CLI on the controller-less test host: `qos explain` of the real
//! engine configs, the class in `state`/`list`, refusals that leave nothing behind, `qos show`.
//! The files written under real controllers are checked in vm_cgroup.rs.

use std::fs;
use std::path::{Path, PathBuf};

use husk_tests::{Bundle, Husk};
use serde_json::Value;

const FIXTURES: &str = "../../shared/fixtures/engine-configs";

/// A bundle dir holding the fixture's config.json (root.path made `rootfs`) and an empty rootfs.
fn fixture_bundle(name: &str) -> tempfile::TempDir {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut config: Value = serde_json::from_str(&text).expect("fixture is JSON");
    config["root"]["path"] = "rootfs".into();
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("rootfs")).unwrap();
    fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    dir
}

fn explain(husk: &Husk, bundle: &Path, format: &str) -> String {
    let out = husk.cmd(&[
        "qos",
        "explain",
        "-b",
        bundle.to_str().unwrap(),
        "-f",
        format,
    ]);
    out.assert_ok();
    out.stdout
}

#[test]
fn explain_classifies_the_engine_configs() {
    let husk = Husk::new();
    let expected = [
        ("cri-host-container.config.json", "besteffort", "resources"),
        ("cri-host-sandbox.config.json", "besteffort", "resources"),
        (
            "cri-host-sandbox-cgroups-enabled-attempt.config.json",
            "burstable",
            "kubepods-path",
        ),
        (
            "ctr-memory-limit-cpushares512.config.json",
            "burstable",
            "resources",
        ),
        ("ctr-run-d.config.json", "besteffort", "resources"),
        (
            "podman-bridge-network.config.json",
            "besteffort",
            "resources",
        ),
        (
            "podman-runc-memory64m-cpushares512.config.json",
            "burstable",
            "resources",
        ),
        ("podman-runc-run-d.config.json", "besteffort", "resources"),
    ];
    for (name, class, rule) in expected {
        let bundle = fixture_bundle(name);
        let json: Value = serde_json::from_str(&explain(&husk, bundle.path(), "json"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(json["class"], class, "{name}: {json:#}");
        assert_eq!(json["rule"], rule, "{name}: {json:#}");
        let files = json["files"].as_array().expect("files");
        assert!(
            files.iter().all(|f| f["file"].is_string()
                && f["value"].is_string()
                && f["source"].is_string()),
            "{name}: {json:#}"
        );
        let table = explain(&husk, bundle.path(), "table");
        assert!(
            table.starts_with(&format!("class: {class} (rule: ")),
            "{name}: {table}"
        );
    }
    let bundle = fixture_bundle("podman-runc-memory64m-cpushares512.config.json");
    let table = explain(&husk, bundle.path(), "table");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("FILE"), "{table}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("memory.max") && l.contains("67108864") && l.contains("spec")),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("cpu.weight") && l.contains("spec")),
        "{table}"
    );
    assert!(
        table.contains("only competes among sibling cgroups"),
        "{table}"
    );
    // Nothing was created: explain does not touch the cgroup tree or the state root.
    assert_eq!(fs::read_dir(husk.root()).unwrap().count(), 0);
}

#[test]
fn explain_with_a_policy_file() {
    let husk = Husk::new();
    let bundle = fixture_bundle("ctr-run-d.config.json");
    let policy = tempfile::NamedTempFile::new().unwrap();
    fs::write(policy.path(), "[besteffort]\ncpu_weight = 7\n").unwrap();
    let out = husk
        .invoke()
        .global("--qos-config")
        .global(policy.path())
        .args(&["qos", "explain", "-f", "json", "-b"])
        .arg(bundle.path())
        .output();
    out.assert_ok();
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    let weight = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "cpu.weight")
        .expect("cpu.weight planned");
    assert_eq!(weight["value"], "7");
    assert_eq!(weight["source"], "policy");
    fs::write(policy.path(), "enabled = false\n").unwrap();
    let out = husk
        .invoke()
        .global(format!("--qos-config={}", policy.path().display()))
        .args(&["qos", "explain", "-b"])
        .arg(bundle.path())
        .output();
    out.assert_ok();
    assert!(
        out.stdout.contains("the QoS engine is off"),
        "{}",
        out.describe()
    );
}

fn with_annotation(bundle: &mut Bundle, key: &str, value: &str) {
    bundle.edit(|c| c["annotations"] = serde_json::json!({ key: value }));
}

#[test]
fn the_class_is_in_state_and_list() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["sleep", "100"]);
    let id = husk.new_id("qosstate");
    husk.create(&id, &bundle, &[]).assert_ok();
    let state = husk.state(&id);
    assert_eq!(
        state["annotations"]["io.husk.qos.class"], "besteffort",
        "{state:#}"
    );

    let mut guaranteed = Bundle::busybox(&["sleep", "100"]);
    with_annotation(&mut guaranteed, "io.husk.qos.class", "guaranteed");
    let gid = husk.new_id("qosguaranteed");
    husk.create(&gid, &guaranteed, &[]).assert_ok();
    assert_eq!(
        husk.state(&gid)["annotations"]["io.husk.qos.class"],
        "guaranteed"
    );
    let list: Value = serde_json::from_str(&husk.cmd(&["list", "-f", "json"]).stdout).unwrap();
    let classes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["annotations"]["io.husk.qos.class"].as_str().unwrap_or(""))
        .collect();
    assert!(
        classes.contains(&"guaranteed") && classes.contains(&"besteffort"),
        "{list:#}"
    );

    // qos show reads the cgroup back: no memory controller here, so no protection.
    let show = husk.cmd(&["qos", "show", &gid]);
    show.assert_ok();
    assert!(
        show.stdout.starts_with("class: guaranteed\n"),
        "{}",
        show.describe()
    );
    assert!(show.stdout.contains("no memory.min"), "{}", show.describe());
    let json: Value = serde_json::from_str(&husk.cmd(&["qos", "show", "-f", "json", &gid]).stdout)
        .expect("show JSON");
    assert_eq!(json["class"], "guaranteed");
    assert_eq!(json["path"], format!("/{gid}"));

    for id in [&id, &gid] {
        husk.cmd(&["delete", "--force", id]).assert_ok();
    }
    husk.assert_nothing_left(&id, &bundle);
    husk.assert_nothing_left(&gid, &guaranteed);
}

#[test]
fn a_bad_annotation_or_policy_fails_create_and_leaves_nothing() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&["sleep", "100"]);
    with_annotation(&mut bundle, "io.husk.qos.class", "platinum");
    let id = husk.new_id("qosbad");
    husk.create(&id, &bundle, &[])
        .assert_fails_with("io.husk.qos.class");
    husk.assert_nothing_left(&id, &bundle);

    let bundle = Bundle::busybox(&["sleep", "100"]);
    let policy = tempfile::NamedTempFile::new().unwrap();
    fs::write(policy.path(), "[burstable]\ncpu_weight = 0\n").unwrap();
    let policy_path: PathBuf = policy.path().to_owned();
    let out = husk
        .invoke()
        .global("--qos-config")
        .global(&policy_path)
        .args(&["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .output();
    out.assert_fails_with(policy_path.to_str().unwrap());
    husk.assert_nothing_left(&id, &bundle);
    let missing = husk
        .invoke()
        .global("--qos-config=/nonexistent/qos.toml")
        .args(&["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .output();
    missing.assert_fails_with("/nonexistent/qos.toml");
    husk.assert_nothing_left(&id, &bundle);

    // The engine off: no class recorded.
    fs::write(policy.path(), "enabled = false\n").unwrap();
    husk.invoke()
        .global("--qos-config")
        .global(&policy_path)
        .args(&["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .output()
        .assert_ok();
    let state = husk.state(&id);
    assert!(
        state["annotations"]["io.husk.qos.class"].is_null(),
        "{state:#}"
    );
    husk.cmd(&["delete", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}
