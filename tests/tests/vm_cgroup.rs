//! cgroup behaviour that needs real controllers: resources read back inside and outside, live
//! update, OOM events, device rules, QoS files and ancestor protection. Runs only in the cgroup v2
//! VM, in a private mount namespace:
//!
//! ```sh
//! cargo build -p husk && cargo test -p husk-tests --test vm_cgroup --no-run   # prints the binary
//! hack/vm/run --timeout 1200 --env HUSK_BIN=$PWD/target/debug/husk -- \
//!     unshare -m --propagation private target/debug/deps/vm_cgroup-HASH --test-threads=1
//! ```
//! The guest is 50-90x slower than the host: every wait has a deadline of tens of seconds.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use husk_tests::{wait_until, Bundle, Husk};
use serde_json::{json, Value};

const SLOW: Duration = Duration::from_secs(60);
const MIB: u64 = 1 << 20;

/// Every test starts here: without the memory controller this is not the VM.
fn require_controllers() {
    let controllers = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
    assert!(
        controllers.split_whitespace().any(|c| c == "memory"),
        "no memory controller in /sys/fs/cgroup/cgroup.controllers ({controllers:?}): \
         run through hack/vm/run (make test-vm)"
    );
}

fn cgroup_file(rel: &str, file: &str) -> String {
    let path = Path::new("/sys/fs/cgroup").join(rel).join(file);
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

fn start(husk: &Husk, id: &str, bundle: &Bundle) {
    husk.create(id, bundle, &[]).assert_ok();
    husk.start(id).assert_ok();
}

/// KEP-2570's memory.high for a burstable container: request + 0.9 × (limit − request), in pages.
fn memory_high(request: u64, limit: u64) -> u64 {
    let page = 4096.0;
    (((request as f64) + 0.9 * ((limit - request) as f64)) / page).floor() as u64 * 4096
}

/// A busybox bundle with its own cgroup namespace: /sys/fs/cgroup inside is the container's cgroup.
fn busybox(args: &[&str]) -> Bundle {
    let mut bundle = Bundle::busybox(args);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "cgroup"}))
    });
    bundle
}

const FILES: [&str; 9] = [
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "cpu.weight",
    "cpu.max",
    "pids.max",
    "cpuset.cpus",
    "cpuset.mems",
    "io.weight",
];

#[test]
fn resources_read_back_inside_and_outside_and_update_changes_them_live() {
    require_controllers();
    let husk = Husk::new();
    let script = format!(
        "for f in {}; do echo \"$f=$(cat /sys/fs/cgroup/$f)\"; done; echo done; sleep 1000",
        FILES.join(" ")
    );
    let mut bundle = busybox(&["sh", "-c", &script]);
    bundle.edit(|c| {
        let resources = &mut c["linux"]["resources"];
        resources["memory"] = json!({"limit": 64 * MIB, "reservation": 32 * MIB, "swap": 96 * MIB});
        resources["cpu"] = json!({"shares": 512, "quota": 50000, "period": 100000,
                                  "cpus": "0", "mems": "0"});
        resources["pids"] = json!({"limit": 50});
        resources["blockIO"] = json!({"weight": 500});
    });
    let id = husk.new_id("resources");
    let created = husk.create(&id, &bundle, &[]);
    created.assert_ok();
    husk.start(&id).assert_ok();
    let expected = [
        ("memory.max", (64 * MIB).to_string()),
        ("memory.low", (32 * MIB).to_string()),
        ("memory.swap.max", (32 * MIB).to_string()),
        ("cpu.weight", "59".to_owned()),
        ("cpu.max", "50000 100000".to_owned()),
        ("pids.max", "50".to_owned()),
        ("cpuset.cpus", "0".to_owned()),
        ("cpuset.mems", "0".to_owned()),
    ];
    // Inside: the container printed its own cgroup's files (cgroup namespace).
    assert!(
        wait_until(SLOW, || created.stdout_now().contains("done\n")),
        "{}",
        created.describe()
    );
    let create_out = created.stdout_now();
    for (file, value) in &expected {
        assert!(
            create_out.contains(&format!("{file}={value}\n")),
            "inside: {file} is not {value}: {create_out}"
        );
        assert_eq!(&cgroup_file(&id, file), value, "outside: {file}");
    }
    // blkio weight 500: raw in io.bfq.weight under BFQ, else converted to io.weight 4950.
    if Path::new("/sys/fs/cgroup")
        .join(&id)
        .join("io.bfq.weight")
        .exists()
    {
        assert!(cgroup_file(&id, "io.bfq.weight").starts_with("default 500"));
    } else {
        assert_eq!(cgroup_file(&id, "io.weight"), "default 4950");
        assert!(
            create_out.contains("io.weight=default 4950\n"),
            "{create_out}"
        );
    }
    // QoS: burstable (reservation below the limit), the reservation is the request.
    assert_eq!(
        husk.state(&id)["annotations"]["io.husk.qos.class"],
        "burstable"
    );
    assert_eq!(cgroup_file(&id, "memory.min"), (32 * MIB).to_string());
    assert_eq!(
        cgroup_file(&id, "memory.high"),
        memory_high(32 * MIB, 64 * MIB).to_string()
    );

    // update: a quota alone keeps the period; memory.high follows the new limit.
    husk.cmd(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "-1",
        "--cpu-quota",
        "20000",
        &id,
    ])
    .assert_ok();
    assert_eq!(cgroup_file(&id, "memory.max"), (128 * MIB).to_string());
    assert_eq!(cgroup_file(&id, "memory.swap.max"), "max");
    assert_eq!(cgroup_file(&id, "cpu.max"), "20000 100000");
    assert_eq!(
        cgroup_file(&id, "memory.high"),
        memory_high(32 * MIB, 128 * MIB).to_string()
    );
    husk.cmd(&["update", "--cpu-period", "50000", &id])
        .assert_ok();
    assert_eq!(cgroup_file(&id, "cpu.max"), "20000 50000");
    let resources = tempfile::NamedTempFile::new().unwrap();
    fs::write(
        resources.path(),
        r#"{"pids":{"limit":42},"unified":{"memory.high":"100000000"}}"#,
    )
    .unwrap();
    husk.cmd(&["update", "-r", resources.path().to_str().unwrap(), &id])
        .assert_ok();
    assert_eq!(cgroup_file(&id, "pids.max"), "42");
    // Unified wins over the policy's memory.high, also on later updates.
    assert_eq!(cgroup_file(&id, "memory.high"), "99999744");
    husk.cmd(&["update", "--memory", "256m", &id]).assert_ok();
    assert_eq!(cgroup_file(&id, "memory.high"), "99999744");
    assert_eq!(husk.state(&id)["status"], "running");

    // events --stats reports the memory usage and the new limit.
    let events = husk.cmd(&["events", "--stats", &id]);
    events.assert_ok();
    let event: Value = serde_json::from_str(events.stdout.trim()).expect("one JSON line");
    let memory = &event["data"]["memory"]["usage"];
    assert!(memory["usage"].as_u64().unwrap_or(0) > 0, "{event:#}");
    assert_eq!(memory["limit"], 256 * MIB, "{event:#}");
    assert_eq!(event["data"]["pids"]["limit"], 42, "{event:#}");
    assert!(
        event["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{event:#}"
    );
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn an_oom_in_a_16mib_container_is_an_oom_event() {
    require_controllers();
    let husk = Husk::new();
    let gate = tempfile::tempdir().unwrap();
    let mut bundle = busybox(&[
        "sh",
        "-c",
        // dd's 64 MiB buffer, filled from /dev/zero at kernel speed: an OOM at once even under TCG.
        "while [ ! -e /gate/go ]; do sleep 0.2; done; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1",
    ]);
    bundle.bind(gate.path(), "/gate");
    bundle.edit(|c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 16 * MIB, "swap": 16 * MIB});
    });
    let id = husk.new_id("oom");
    start(&husk, &id, &bundle);
    let events = std::thread::scope(|s| {
        let stream = s.spawn(|| husk.cmd(&["events", "--interval", "10s", &id]));
        // Time for the stream to read memory.events before the allocation starts.
        std::thread::sleep(Duration::from_secs(4));
        fs::write(gate.path().join("go"), "").unwrap();
        stream.join().expect("events thread")
    });
    events.assert_ok();
    let lines: Vec<Value> = events
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON event"))
        .collect();
    assert!(
        lines.contains(&json!({"type": "oom", "id": id})),
        "{}",
        events.describe()
    );
    husk.cmd(&["delete", &id]).assert_ok();
}

/// Runs a container with the host's /dev/kmsg (c 1:11, not in runc's default allow list) bound in
/// and `rules` added; it prints whether it could open /dev/kmsg and /dev/null for writing and how
/// many bytes it read from /dev/zero.
fn device_probe(husk: &Husk, name: &str, rules: Value) -> Vec<String> {
    let mut bundle = busybox(&[
        "sh",
        "-c",
        "if echo husk-test > /dev/kmsg; then echo kmsg-written; else echo kmsg-denied; fi; \
         if echo x > /dev/null; then echo null-written; else echo null-denied; fi; \
         head -c 4 /dev/zero | wc -c",
    ]);
    bundle.add_mount(json!({
        "destination": "/dev/kmsg",
        "type": "bind",
        "source": "/dev/kmsg",
        "options": ["bind", "rw"],
    }));
    bundle.edit(|c| {
        let devices = c["linux"]["resources"]["devices"]
            .as_array_mut()
            .expect("devices");
        devices.extend(rules.as_array().expect("rules").iter().cloned());
    });
    let id = husk.new_id(name);
    let out = husk.run(&id, &bundle);
    out.assert_ok();
    let printed = out.stdout.split_whitespace().map(str::to_owned).collect();
    husk.assert_nothing_left(&id, &bundle);
    printed
}

#[test]
fn device_rules_deny_and_allow_by_access() {
    require_controllers();
    let husk = Husk::new();
    // Write allowed on c 1:11: the open succeeds.
    let allowed = device_probe(
        &husk,
        "devallow",
        json!([{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]),
    );
    assert_eq!(allowed, ["kmsg-written", "null-written", "4"]);
    // Only read allowed: the eBPF program denies the write open. A deny of /dev/null writes does
    // not hold, as in runc: the default rules come after the spec's and allow /dev/null rwm
    // (libcontainer/specconv CreateCgroupConfig).
    let denied = device_probe(
        &husk,
        "devdeny",
        json!([
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}
        ]),
    );
    assert_eq!(denied, ["kmsg-denied", "null-written", "4"]);
}

/// A parent cgroup shared by the test's containers, removed at the end.
struct Parent(PathBuf);

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

#[test]
fn qos_files_per_class_and_the_ancestor_sum() {
    require_controllers();
    let husk = Husk::new();
    let parent_name = format!("husk-qos-{}", std::process::id());
    let parent = Parent(Path::new("/sys/fs/cgroup").join(&parent_name));
    let make = |class: &str, memory: Value, annotations: Value| {
        let mut bundle = busybox(&["sleep", "1000"]);
        let id = husk.new_id(class);
        let rel = format!("{parent_name}/{id}");
        bundle.edit(|c| {
            c["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
            c["linux"]["resources"]["memory"] = memory;
            c["annotations"] = annotations;
        });
        start(&husk, &id, &bundle);
        assert_eq!(husk.state(&id)["annotations"]["io.husk.qos.class"], class);
        (id, rel, bundle)
    };
    let (gid, grel, _gb) = make(
        "guaranteed",
        json!({"limit": 64 * MIB}),
        json!({"io.husk.qos.class": "guaranteed"}),
    );
    let (bid, brel, _bb) = make(
        "burstable",
        json!({"limit": 64 * MIB}),
        json!({"io.husk.qos.memory-request": (16 * MIB).to_string()}),
    );
    let (eid, erel, _eb) = make("besteffort", json!({}), json!({}));

    let files =
        |rel: &str| ["memory.min", "memory.high", "cpu.weight"].map(|f| cgroup_file(rel, f));
    assert_eq!(
        files(&grel),
        [(64 * MIB).to_string(), "max".to_owned(), "10000".to_owned()]
    );
    assert_eq!(
        files(&brel),
        [
            (16 * MIB).to_string(),
            memory_high(16 * MIB, 64 * MIB).to_string(),
            "512".to_owned()
        ]
    );
    assert_eq!(
        files(&erel),
        ["0".to_owned(), "max".to_owned(), "100".to_owned()]
    );
    assert_eq!(
        cgroup_file(&parent_name, "memory.min"),
        (80 * MIB).to_string()
    );

    let show = husk.cmd(&["qos", "show", "-f", "json", &bid]);
    show.assert_ok();
    let status: Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(status["class"], "burstable");
    assert!(status["memory_events"]["oom_kill"].is_u64(), "{status:#}");
    assert_eq!(status["warnings"], json!([]), "{status:#}");
    let table = husk.cmd(&["qos", "show", &bid]);
    assert!(
        table.stdout.contains("only competes among sibling cgroups"),
        "{}",
        table.describe()
    );

    husk.cmd(&["delete", "--force", &gid]).assert_ok();
    assert_eq!(
        cgroup_file(&parent_name, "memory.min"),
        (16 * MIB).to_string()
    );
    // A value someone else wrote caps the protection: show warns, and husk never lowers or
    // raises it.
    fs::write(
        Path::new("/sys/fs/cgroup")
            .join(&parent_name)
            .join("memory.min"),
        MIB.to_string(),
    )
    .unwrap();
    let show = husk.cmd(&["qos", "show", &bid]);
    show.assert_ok();
    assert!(
        show.stdout.contains(&format!(
            "ancestor /{parent_name} caps the protection: memory.min {MIB} (not managed by husk)"
        )),
        "{}",
        show.describe()
    );
    for id in [&bid, &eid] {
        husk.cmd(&["delete", "--force", id]).assert_ok();
    }
    assert_eq!(cgroup_file(&parent_name, "memory.min"), MIB.to_string());
    drop(parent);
    assert!(!Path::new("/sys/fs/cgroup").join(&parent_name).exists());
}
