//! The create/start/kill/delete lifecycle, state JSON, pid file, list, features, spec.

use std::fs;
use std::time::Duration;

use husk_tests::{reaper, Bundle, Husk};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use serde_json::{json, Value};

/// A host directory bind-mounted at /gate: the container's [`WAIT_FOR_GATE`] loop ends once the
/// test calls [`Gate::open`].
struct Gate(tempfile::TempDir);

const WAIT_FOR_GATE: &str = "while [ ! -e /gate/go ]; do sleep 0.1; done";

impl Gate {
    fn new(bundle: &mut Bundle) -> Gate {
        let gate = Gate(tempfile::tempdir().expect("tempdir"));
        bundle.bind(gate.0.path(), "/gate");
        gate
    }

    fn open(&self) {
        fs::write(self.0.path().join("go"), "").expect("open the gate");
    }
}

/// A process that exists and is not a zombie.
fn is_alive(pid: i64) -> bool {
    // /proc/<pid>/stat: "pid (comm) S ...", the state letter after the last ')'.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && rest
                .bytes()
                .enumerate()
                .all(|(i, c)| i == 0 || i == 3 || c.is_ascii_digit()))
}

#[test]
fn rfc3339_checker_rejects_garbage() {
    assert!(is_rfc3339("2026-12-04T15:15:01.123456789Z"));
    assert!(is_rfc3339("2026-12-04T15:15:01+01:00"));
    assert!(!is_rfc3339("2026-12-04 15:15:01Z"));
    assert!(!is_rfc3339("1764861301"));
    assert!(!is_rfc3339("2026-12-04T15:15:01."));
}

#[test]
fn create_start_stop_delete_with_state_json() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&["sh", "-c", &format!("{WAIT_FOR_GATE}; echo finished")]);
    let gate = Gate::new(&mut bundle);
    let id = husk.new_id("lifecycle");
    let pid_file = bundle.path().join("init.pid");

    let created = husk.create(
        &id,
        &bundle,
        &["--pid-file", pid_file.to_str().expect("utf-8")],
    );
    created.assert_ok();
    // go-runc parses the pid file with strconv.Atoi: digits only, no newline.
    let pid_text = fs::read_to_string(&pid_file).expect("pid file written before create returns");
    assert!(
        !pid_text.is_empty() && pid_text.bytes().all(|b| b.is_ascii_digit()),
        "pid file: {pid_text:?}"
    );
    let pid: i64 = pid_text.parse().expect("pid");

    let state = husk.state(&id);
    assert_eq!(state["status"], "created", "{state:#}");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["pid"], json!(pid), "state pid vs pid file: {state:#}");
    assert_eq!(
        state["ociVersion"], bundle.config["ociVersion"],
        "{state:#}"
    );
    assert_eq!(state["bundle"], json!(bundle.path()), "{state:#}");
    assert_eq!(state["rootfs"], json!(bundle.rootfs()), "{state:#}");
    let stamp = state["created"].as_str().unwrap_or_default();
    assert!(is_rfc3339(stamp), "created is not RFC 3339: {state:#}");
    assert!(state["owner"].is_string(), "owner missing: {state:#}");
    assert!(is_alive(pid), "init {pid} is not alive after create");
    // The init is in its cgroup before create returns (containerd reads /proc/<pid>/cgroup then).
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup");
    assert!(
        cgroups.lines().any(|l| l == format!("0::/{id}")),
        "init not in /{id}: {cgroups}"
    );
    assert_eq!(created.stdout_now(), "", "the process ran before start");

    husk.start(&id).assert_ok();
    let state = husk.state(&id);
    assert_eq!(state["status"], "running", "{state:#}");
    assert_eq!(state["pid"], json!(pid), "{state:#}");

    gate.open();
    let state = husk.wait_status(&id, "stopped");
    assert_eq!(state["pid"], 0, "{state:#}");
    assert_eq!(created.stdout_now(), "finished\n");
    let exit = reaper::wait_exit(pid as i32, Duration::from_secs(5));
    assert!(
        matches!(exit, Some(WaitStatus::Exited(_, 0))),
        "init ended with {exit:?}"
    );

    husk.cmd(&["delete", &id]).assert_ok();
    husk.cmd(&["state", &id])
        .assert_fails_with("container does not exist");
    husk.assert_nothing_left(&id, &bundle);
}

/// The spec without a pid namespace: there `sleep` is not a pid-namespace init, which ignores
/// signals it has no handler for (except SIGKILL) even when they come from the host
/// (pid_namespaces(7)).
fn sleep_without_pid_namespace() -> Bundle {
    let mut bundle = Bundle::busybox(&["sleep", "100"]);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|ns| ns["type"] != "pid");
    });
    bundle
}

/// create + start, returns the init pid.
fn start_container(husk: &Husk, id: &str, bundle: &Bundle) -> i32 {
    husk.create(id, bundle, &[]).assert_ok();
    husk.start(id).assert_ok();
    let state = husk.state(id);
    assert_eq!(state["status"], "running", "{state:#}");
    state["pid"].as_i64().expect("pid") as i32
}

#[test]
fn kill_term_stops_sleep() {
    let husk = Husk::new();
    let bundle = sleep_without_pid_namespace();
    let id = husk.new_id("killterm");
    let pid = start_container(&husk, &id, &bundle);
    husk.kill(&id, "TERM").assert_ok();
    let state = husk.wait_status(&id, "stopped");
    assert_eq!(state["pid"], 0, "{state:#}");
    let exit = reaper::wait_exit(pid, Duration::from_secs(5));
    assert!(
        matches!(exit, Some(WaitStatus::Signaled(_, Signal::SIGTERM, _))),
        "init ended with {exit:?}"
    );
    // containerd and CRI-O classify kill errors by this text.
    husk.kill(&id, "KILL")
        .assert_fails_with("container not running");
    husk.cmd(&["delete", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn kill_accepts_number_name_and_sig_forms() {
    let husk = Husk::new();
    // Forms that mean SIGTERM (runc parseSignal: number, name, SIG-name, any case; default TERM).
    let forms: [&[&str]; 5] = [&["15"], &["TERM"], &["SIGTERM"], &["sigterm"], &[]];
    for form in forms {
        let bundle = sleep_without_pid_namespace();
        let id = husk.new_id("killform");
        let pid = start_container(&husk, &id, &bundle);
        husk.cmd(&[&["kill", id.as_str()], form].concat())
            .assert_ok();
        husk.wait_status(&id, "stopped");
        let exit = reaper::wait_exit(pid, Duration::from_secs(5));
        assert!(
            matches!(exit, Some(WaitStatus::Signaled(_, Signal::SIGTERM, _))),
            "kill {form:?}: init ended with {exit:?}"
        );
        husk.cmd(&["delete", &id]).assert_ok();
        husk.assert_nothing_left(&id, &bundle);
    }
    // SIGKILL by name and number reaches a pid-namespace init.
    for form in ["KILL", "9"] {
        let bundle = Bundle::busybox(&["sleep", "100"]);
        let id = husk.new_id("killpidns");
        let pid = start_container(&husk, &id, &bundle);
        husk.kill(&id, form).assert_ok();
        husk.wait_status(&id, "stopped");
        let exit = reaper::wait_exit(pid, Duration::from_secs(5));
        assert!(
            matches!(exit, Some(WaitStatus::Signaled(_, Signal::SIGKILL, _))),
            "kill {form}: {exit:?}"
        );
        husk.cmd(&["delete", &id]).assert_ok();
        husk.assert_nothing_left(&id, &bundle);
    }
}

#[test]
fn kill_with_unknown_signal_fails_and_keeps_running() {
    let husk = Husk::new();
    let bundle = sleep_without_pid_namespace();
    let id = husk.new_id("killbad");
    start_container(&husk, &id, &bundle);
    let out = husk.kill(&id, "NOSUCHSIG");
    assert!(out.code().is_some_and(|c| c != 0), "{}", out.describe());
    assert_eq!(husk.state(&id)["status"], "running");
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn list_shows_the_container() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["sleep", "100"]);
    let id = husk.new_id("list");
    husk.create(&id, &bundle, &[]).assert_ok();

    let table = husk.cmd(&["list"]);
    table.assert_ok();
    let mut rows = table.stdout.lines();
    let header: Vec<&str> = rows.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{}",
        table.describe()
    );
    let row: Vec<&str> = rows.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(row.first(), Some(&id.as_str()), "{}", table.describe());
    assert_eq!(row.get(2), Some(&"created"), "{}", table.describe());
    assert_eq!(
        row.get(3).map(|b| b.to_string()),
        Some(bundle.path().display().to_string())
    );

    let quiet = husk.cmd(&["list", "-q"]);
    quiet.assert_ok();
    assert_eq!(quiet.stdout, format!("{id}\n"), "{}", quiet.describe());

    for flags in [
        &["list", "-f", "json"][..],
        &["list", "--format", "json"][..],
        &["list", "--format=json"][..],
    ] {
        let out = husk.cmd(flags);
        out.assert_ok();
        let list: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.describe()));
        let entries = list
            .as_array()
            .unwrap_or_else(|| panic!("not an array: {}", out.describe()));
        assert_eq!(entries.len(), 1, "{}", out.describe());
        assert_eq!(entries[0]["id"], id.as_str());
        assert_eq!(entries[0]["status"], "created");
        assert_eq!(entries[0]["bundle"], json!(bundle.path()));
        assert!(
            entries[0]["pid"].as_i64().is_some_and(|p| p > 0),
            "{}",
            out.describe()
        );
    }
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn delete_of_running_container_needs_force() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["sleep", "100"]);
    let id = husk.new_id("delrunning");
    start_container(&husk, &id, &bundle);
    husk.cmd(&["delete", &id])
        .assert_fails_with("container still running");
    assert_eq!(husk.state(&id)["status"], "running");
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn delete_of_created_container_kills_it() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["sleep", "100"]);
    let id = husk.new_id("delcreated");
    husk.create(&id, &bundle, &[]).assert_ok();
    let pid = husk.state(&id)["pid"].as_i64().expect("pid");
    husk.cmd(&["delete", &id]).assert_ok();
    assert!(!is_alive(pid), "init {pid} survived delete");
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn delete_force_of_unknown_id_succeeds() {
    let husk = Husk::new();
    let out = husk.cmd(&["delete", "--force", "no-such-container"]);
    out.assert_ok();
    husk.cmd(&["delete", "-f", "no-such-container"]).assert_ok();
}

#[test]
fn concurrent_creates_of_one_id() {
    let husk = Husk::new();
    for _ in 0..5 {
        let id = husk.new_id("race");
        let bundles = [
            Bundle::busybox(&["sleep", "100"]),
            Bundle::busybox(&["sleep", "100"]),
        ];
        let outs = std::thread::scope(|s| {
            let handles = bundles
                .each_ref()
                .map(|b| s.spawn(|| husk.create(&id, b, &[])));
            handles.map(|h| h.join().expect("create thread"))
        });
        let winners: Vec<usize> = (0..2).filter(|&i| outs[i].success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one create must succeed:\n{}\n{}",
            outs[0].describe(),
            outs[1].describe()
        );
        let (winner, loser) = (winners[0], 1 - winners[0]);
        outs[loser].assert_fails_with("container with given ID already exists");
        let state = husk.state(&id);
        assert_eq!(state["status"], "created", "{state:#}");
        assert_eq!(state["bundle"], json!(bundles[winner].path()), "{state:#}");
        husk.cmd(&["delete", "--force", &id]).assert_ok();
        for bundle in &bundles {
            husk.assert_nothing_left(&id, bundle);
        }
    }
}

/// "1.0.2-dev" -> (1, 0, 2).
fn version_triple(v: &str) -> (u64, u64, u64) {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<u64> = core
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("version {v:?}")))
        .collect();
    assert_eq!(parts.len(), 3, "version {v:?}");
    (parts[0], parts[1], parts[2])
}

#[test]
fn features_prints_versions() {
    let husk = Husk::new();
    // containerd runs `<runtime> features` with no global flag.
    let out = husk.invoke().without_root().arg("features").output();
    out.assert_ok();
    let features: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.describe()));
    let min = features["ociVersionMin"]
        .as_str()
        .unwrap_or_else(|| panic!("no ociVersionMin: {features:#}"));
    let max = features["ociVersionMax"]
        .as_str()
        .unwrap_or_else(|| panic!("no ociVersionMax: {features:#}"));
    assert_eq!(version_triple(min).0, 1);
    assert!(
        version_triple(min) <= version_triple(max),
        "min {min} > max {max}"
    );
}

#[test]
fn spec_writes_config_and_refuses_to_overwrite() {
    let husk = Husk::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle_arg = dir.path().to_str().expect("utf-8");
    husk.cmd(&["spec", "--bundle", bundle_arg]).assert_ok();
    let config_path = dir.path().join("config.json");
    let config: Value =
        serde_json::from_str(&fs::read_to_string(&config_path).expect("config.json written"))
            .expect("config.json is JSON");
    assert!(
        config["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{config:#}"
    );
    assert_eq!(config["process"]["args"], json!(["sh"]), "{config:#}");
    assert_eq!(config["root"]["path"], "rootfs", "{config:#}");
    let namespaces: Vec<&str> = config["linux"]["namespaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["type"].as_str()).collect())
        .unwrap_or_default();
    for ns in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(namespaces.contains(&ns), "no {ns} namespace in {config:#}");
    }

    fs::write(&config_path, "{\"marker\": true}").expect("write marker");
    let again = husk.cmd(&["spec", "--bundle", bundle_arg]);
    assert!(
        again.code().is_some_and(|c| c != 0),
        "spec overwrote config.json: {}",
        again.describe()
    );
    assert_eq!(
        fs::read_to_string(&config_path).expect("read"),
        "{\"marker\": true}"
    );
}

/// containerd's state dir is `<Root>/<namespace>/<64-hex id>`: with a custom shim Root the path of
/// `start.sock` passes the 108-byte limit of a unix socket address, and create/start must still work.
#[test]
fn create_and_start_with_a_state_dir_longer_than_a_socket_address() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/bin/sleep", "100"]);
    let id = husk.new_id(&"0123456789abcdef".repeat(6));
    assert!(husk.root().join(&id).join("start.sock").as_os_str().len() > 108);
    start_container(&husk, &id, &bundle);
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}
