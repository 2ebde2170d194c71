//! Namespaces joined by path, a new time namespace with offsets, and birth in a cgroup.

mod support;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use serde_json::json;
use support::{run, run_sh, Bundle, Container};

#[test]
fn joins_pid_and_uts_namespaces_by_path_and_restores_the_parent() {
    let holder_bundle = Bundle::new();
    let holder_spec =
        holder_bundle.spec(&["sleep", "30"], |s| s["hostname"] = json!("husk-holder"));
    let holder = Container::spawn(holder_bundle.request(&holder_spec)).unwrap();
    let holder_pid = holder.spawned.pid;

    let bundle = Bundle::new();
    let code = run_sh(&bundle, "echo $$ > /out/pid; hostname > /out/host", |s| {
        s.as_object_mut().unwrap().remove("hostname");
        s["linux"]["namespaces"] = json!([
            {"type": "pid", "path": format!("/proc/{holder_pid}/ns/pid")},
            {"type": "uts", "path": format!("/proc/{holder_pid}/ns/uts")},
            {"type": "mount"}
        ]);
    });
    assert_eq!(code, 0);
    assert_eq!(bundle.read_out("host"), "husk-holder\n");
    // The holder's `sleep` is pid 1 of that namespace: the joiner is another member.
    assert_ne!(bundle.read_out("pid"), "1\n");
    // The setns(CLONE_NEWPID) done before clone3 was undone for this thread.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/pid_for_children").unwrap(),
        std::fs::read_link("/proc/thread-self/ns/pid").unwrap()
    );
    drop(holder);
}

#[test]
fn joining_a_user_namespace_makes_the_new_namespaces_its_own() {
    let holder_bundle = Bundle::new();
    let holder_spec = holder_bundle.spec(&["sleep", "30"], |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let holder = Container::spawn(holder_bundle.request(&holder_spec)).unwrap();
    let holder_pid = holder.spawned.pid;

    let bundle = Bundle::new();
    let code = run_sh(
        &bundle,
        "cat /proc/self/uid_map > /out/map; hostname > /out/host",
        |s| {
            s["hostname"] = json!("husk-joiner");
            s["linux"]["namespaces"] = json!([
                {"type": "user", "path": format!("/proc/{holder_pid}/ns/user")},
                {"type": "pid", "path": format!("/proc/{holder_pid}/ns/pid")},
                {"type": "mount"},
                {"type": "uts"}
            ]);
        },
    );
    assert_eq!(code, 0);
    assert_eq!(bundle.read_out("map"), "         0     100000      65536\n");
    // sethostname worked: the new uts namespace is owned by the joined user namespace.
    assert_eq!(bundle.read_out("host"), "husk-joiner\n");
    drop(holder);
}

#[test]
fn new_time_namespace_gets_its_offsets() {
    let bundle = Bundle::new();
    let year = 365 * 24 * 3600;
    let code = run_sh(&bundle, "cat /proc/uptime > /out/uptime", |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        s["linux"]["timeOffsets"] =
            json!({"boottime": {"secs": year}, "monotonic": {"secs": year}});
    });
    assert_eq!(code, 0);
    let uptime: f64 = bundle
        .read_out("uptime")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        uptime >= year as f64,
        "uptime {uptime} lacks the boottime offset"
    );
    // The runtime's own time namespace is untouched.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/time_for_children").unwrap(),
        std::fs::read_link("/proc/thread-self/ns/time").unwrap()
    );
}

/// A cgroup directory in the cgroup2 hierarchy, removed on drop.
struct TestCgroup(PathBuf);

impl TestCgroup {
    fn create() -> TestCgroup {
        let unified = if is_cgroup2(Path::new("/sys/fs/cgroup")) {
            PathBuf::from("/sys/fs/cgroup")
        } else {
            PathBuf::from("/sys/fs/cgroup/unified")
        };
        assert!(is_cgroup2(&unified), "no cgroup2 hierarchy");
        let dir = unified.join(format!("husk-spawn-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TestCgroup(dir)
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn is_cgroup2(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

#[test]
fn init_is_born_in_the_given_cgroup() {
    let cgroup = TestCgroup::create();
    let fd = open(
        &cgroup.0,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let bundle = Bundle::new();
    let spec = bundle.spec(
        &["sh", "-c", "grep '^0::' /proc/self/cgroup > /out/cgroup"],
        |_| {},
    );
    let mut req = bundle.request(&spec);
    req.cgroup_fd = Some(fd.as_raw_fd());
    let mut container = Container::spawn(req).unwrap();
    container.spawned.wait_exec().unwrap();
    assert_eq!(container.wait(), 0);
    let name = cgroup.0.file_name().unwrap().to_str().unwrap();
    assert_eq!(bundle.read_out("cgroup"), format!("0::/{name}\n"));
}

#[test]
fn hostname_without_a_uts_namespace_is_refused() {
    let bundle = Bundle::new();
    let spec = bundle.spec(&["true"], |s| {
        s["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    });
    let err = Container::spawn(bundle.request(&spec))
        .err()
        .expect("must fail");
    assert_eq!(
        err.to_string(),
        "set hostname: unable to set hostname without a private UTS namespace"
    );
    // Without a hostname the same namespaces are fine.
    let spec = bundle.spec(&["true"], |s| {
        s.as_object_mut().unwrap().remove("hostname");
        s["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    });
    assert_eq!(run(&bundle, &spec), 0);
}
