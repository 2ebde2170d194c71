//! pause/resume, kill --all, ps, events and update against the controller-less cgroup2 hierarchy
//! of the test host (hack/test-host). What needs real controllers is in vm_cgroup.rs.

use std::fs;
use std::path::Path;
use std::time::Duration;

use husk_tests::{reaper, wait_until, Bundle, Husk};
use nix::sys::wait::WaitStatus;
use serde_json::Value;

/// A container whose shell counts as fast as it can into /out/n (a host directory).
fn counting_bundle() -> (Bundle, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("tempdir");
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; done",
    ]);
    bundle.bind(out.path(), "/out");
    (bundle, out)
}

/// The counter, once it exists (written by rename: never a partial file).
fn count(out: &Path) -> u64 {
    let mut value = 0;
    assert!(
        wait_until(Duration::from_secs(10), || {
            value = fs::read_to_string(out.join("n"))
                .ok()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            value > 0
        }),
        "the container never counted"
    );
    value
}

fn start(husk: &Husk, id: &str, bundle: &Bundle) -> i64 {
    husk.create(id, bundle, &[]).assert_ok();
    husk.start(id).assert_ok();
    husk.state(id)["pid"].as_i64().expect("pid")
}

#[test]
fn pause_stops_the_count_and_resume_continues_it() {
    // `out` first, so it is dropped last: after Husk's drop has killed the counting container
    // (otherwise removing the directory races with its writes and leaves it behind).
    let (bundle, out) = counting_bundle();
    let husk = Husk::new();
    let id = husk.new_id("pause");
    start(&husk, &id, &bundle);
    count(out.path());
    husk.cmd(&["resume", &id])
        .assert_fails_with("container not paused");

    husk.cmd(&["pause", &id]).assert_ok();
    assert_eq!(husk.state(&id)["status"], "paused");
    let frozen = fs::read_to_string(format!("/sys/fs/cgroup/{id}/cgroup.freeze")).unwrap();
    assert_eq!(frozen.trim(), "1");
    let paused_at = count(out.path());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count(out.path()),
        paused_at,
        "the count advanced while paused"
    );
    husk.cmd(&["pause", &id])
        .assert_fails_with("container not running");
    let list: Value = serde_json::from_str(&husk.cmd(&["list", "-f", "json"]).stdout).unwrap();
    assert_eq!(list[0]["status"], "paused", "{list:#}");

    husk.cmd(&["resume", &id]).assert_ok();
    assert_eq!(husk.state(&id)["status"], "running");
    assert!(
        wait_until(Duration::from_secs(10), || count(out.path()) > paused_at),
        "the count did not continue after resume"
    );

    husk.kill(&id, "KILL").assert_ok();
    husk.wait_status(&id, "stopped");
    husk.cmd(&["pause", &id])
        .assert_fails_with("container not running");
    husk.cmd(&["resume", &id])
        .assert_fails_with("container not paused");
    husk.cmd(&["delete", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn a_paused_container_is_killed_by_delete_force() {
    // `out` first, so it is dropped last: after Husk's drop has killed the counting container
    // (otherwise removing the directory races with its writes and leaves it behind).
    let (bundle, out) = counting_bundle();
    let husk = Husk::new();
    let id = husk.new_id("pausedel");
    start(&husk, &id, &bundle);
    count(out.path());
    husk.cmd(&["pause", &id]).assert_ok();
    husk.cmd(&["delete", &id])
        .assert_fails_with("container still running");
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

/// `sh` with two `sleep` children, no pid namespace (host pids are the container's).
fn shell_with_children() -> Bundle {
    let mut bundle = Bundle::busybox(&["sh", "-c", "sleep 100 & sleep 101 & wait"]);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|ns| ns["type"] != "pid");
    });
    bundle
}

fn ps_json(husk: &Husk, id: &str) -> Vec<i64> {
    let out = husk.cmd(&["ps", "--format", "json", id]);
    out.assert_ok();
    assert!(out.stdout.ends_with("]\n"), "{}", out.describe());
    assert!(!out.stdout.contains(' '), "not compact: {}", out.describe());
    let pids: Vec<i64> = serde_json::from_str(&out.stdout).expect("a JSON array of pids");
    pids
}

#[test]
fn ps_lists_the_init_and_its_children_and_kill_all_ends_them() {
    let husk = Husk::new();
    let bundle = shell_with_children();
    let id = husk.new_id("psall");
    let init = start(&husk, &id, &bundle);
    let mut pids = Vec::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            pids = ps_json(&husk, &id);
            pids.len() == 3
        }),
        "expected sh and two sleeps, got {pids:?}"
    );
    assert!(pids.contains(&init), "{pids:?} lacks the init {init}");

    let table = husk.cmd(&["ps", &id]);
    table.assert_ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].contains("PID"), "{}", table.describe());
    assert_eq!(lines.len(), 4, "{}", table.describe());
    assert!(table.stdout.contains("sleep 101"), "{}", table.describe());
    let custom = husk.cmd(&["ps", &id, "-o", "pid,comm"]);
    custom.assert_ok();
    assert_eq!(custom.stdout.lines().count(), 4, "{}", custom.describe());

    husk.cmd(&["kill", "--all", &id, "9"]).assert_ok();
    husk.wait_status(&id, "stopped");
    for pid in &pids {
        assert!(
            wait_until(Duration::from_secs(10), || {
                !fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| !s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'))
            }),
            "pid {pid} survived kill --all"
        );
    }
    assert_eq!(ps_json(&husk, &id), Vec::<i64>::new());
    husk.cmd(&["delete", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn kill_all_with_term_reaches_every_process() {
    let husk = Husk::new();
    let bundle = shell_with_children();
    let id = husk.new_id("killterm");
    start(&husk, &id, &bundle);
    assert!(wait_until(Duration::from_secs(10), || ps_json(&husk, &id)
        .len()
        == 3));
    husk.cmd(&["kill", "-a", &id, "TERM"]).assert_ok();
    husk.wait_status(&id, "stopped");
    assert!(
        wait_until(Duration::from_secs(10), || ps_json(&husk, &id).is_empty()),
        "{:?}",
        ps_json(&husk, &id)
    );
    husk.cmd(&["delete", &id]).assert_ok();
}

#[test]
fn events_stats_prints_one_stats_event() {
    // `out` first, so it is dropped last: after Husk's drop has killed the counting container
    // (otherwise removing the directory races with its writes and leaves it behind).
    let (bundle, out) = counting_bundle();
    let husk = Husk::new();
    let id = husk.new_id("events");
    start(&husk, &id, &bundle);
    count(out.path());
    let events = husk.cmd(&["events", "--stats", &id]);
    events.assert_ok();
    let lines: Vec<&str> = events.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", events.describe());
    let event: Value = serde_json::from_str(lines[0]).expect("JSON event");
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], id.as_str());
    // cpu.stat is a core file: there without any controller. The loop has burnt cpu time.
    let usage = &event["data"]["cpu"]["usage"];
    assert!(usage["total"].as_u64().unwrap_or(0) > 0, "{event:#}");
    assert!(
        usage["user"].is_u64() && usage["kernel"].is_u64(),
        "{event:#}"
    );
    assert!(event["data"]["memory"].is_object(), "{event:#}");
}

#[test]
fn events_stream_stats_until_the_container_is_gone() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["sleep", "2"]);
    let id = husk.new_id("evstream");
    start(&husk, &id, &bundle);
    let events = husk.cmd(&["events", "--interval", "300ms", &id]);
    events.assert_ok();
    let stats: Vec<Value> = events
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON event"))
        .collect();
    assert!(stats.len() >= 2, "{}", events.describe());
    assert!(
        stats
            .iter()
            .all(|e| e["type"] == "stats" && e["id"] == id.as_str()),
        "{}",
        events.describe()
    );
    assert_eq!(husk.state(&id)["status"], "stopped");
    husk.cmd(&["events", "--interval", "5x", &id])
        .assert_fails_with("--interval");
}

#[test]
fn update_without_the_controller_fails_by_name_and_keeps_the_container() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["sleep", "100"]);
    let id = husk.new_id("update");
    start(&husk, &id, &bundle);
    husk.cmd(&["update", "--memory", "64m", &id])
        .assert_fails_with("memory controller");
    let resources = tempfile::NamedTempFile::new().unwrap();
    fs::write(resources.path(), r#"{"pids":{"limit":10}}"#).unwrap();
    husk.cmd(&["update", "-r", resources.path().to_str().unwrap(), &id])
        .assert_fails_with("pids controller");
    husk.cmd(&["update", "--kernel-memory", "1m", &id])
        .assert_fails_with("--kernel-memory");
    husk.cmd(&["update", "--cpu-rt-runtime", "1000", &id])
        .assert_fails_with("realtime");
    // containerd's form: the JSON on stdin (a file: the harness's reaper owns the children).
    fs::write(
        resources.path(),
        r#"{"cpu":{"quota":20000,"period":100000}}"#,
    )
    .unwrap();
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = std::process::Command::new(husk_tests::husk_bin());
    cmd.arg("--root")
        .arg(husk.root())
        .args(["update", "--resources=-", &id])
        .stdin(fs::File::open(resources.path()).unwrap())
        .stderr(stderr.reopen().unwrap());
    let pid = reaper::spawn(&mut cmd).expect("spawn husk update");
    let status = reaper::wait_exit(pid, Duration::from_secs(20));
    assert!(
        matches!(status, Some(WaitStatus::Exited(_, 1))),
        "{status:?}"
    );
    let message = fs::read_to_string(stderr.path()).unwrap();
    assert!(message.contains("cpu controller"), "{message}");
    assert_eq!(husk.state(&id)["status"], "running");
    // Nothing asked of a controller: nothing to refuse.
    husk.cmd(&["update", &id]).assert_ok();
    husk.cmd(&["update", "--memory", "1m", "no-such-container"])
        .assert_fails_with("container does not exist");
    husk.cmd(&["delete", "--force", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}
