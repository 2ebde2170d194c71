//! What the container process sees: exit codes, hostname, mounts, masked paths, capabilities, user,
//! env, cwd, rlimits, user namespace mappings, preserved fds, mount destinations through symlinks.
//! Each test runs `husk run` (foreground) and checks that the container left nothing behind.

use std::fs;
use std::io::Write;
use std::str::FromStr;

use husk_tests::{Bundle, Husk, Output};
use serde_json::json;

/// `husk run` of `bundle`, which must exit 0 and leave nothing behind; returns its output.
fn run_ok(husk: &Husk, name: &str, bundle: &Bundle) -> Output {
    let id = husk.new_id(name);
    let out = husk.run(&id, bundle);
    out.assert_ok();
    husk.assert_nothing_left(&id, bundle);
    out
}

/// The value of `key:` in /proc/<pid>/status text, whitespace-separated fields.
fn status_field<'a>(status: &'a str, key: &str) -> Vec<&'a str> {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} line in:\n{status}"));
    line[key.len() + 1..].split_whitespace().collect()
}

#[test]
fn true_exits_zero() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["/bin/true"]);
    let out = run_ok(&husk, "true", &bundle);
    assert_eq!(out.stdout, "", "{}", out.describe());
}

#[test]
fn exit_code_propagates() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&["sh", "-c", "echo before-exit; exit 3"]);
    let id = husk.new_id("exit3");
    let out = husk.run(&id, &bundle);
    assert_eq!(out.code(), Some(3), "{}", out.describe());
    assert_eq!(out.stdout, "before-exit\n", "{}", out.describe());
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn hostname_is_set_in_the_container_only() {
    let husk = Husk::new();
    let host_before = nix::unistd::gethostname().expect("gethostname");
    let mut bundle = Bundle::busybox(&["hostname"]);
    bundle.edit(|c| c["hostname"] = json!("husk-test"));
    let out = run_ok(&husk, "hostname", &bundle);
    assert_eq!(out.stdout, "husk-test\n", "{}", out.describe());
    assert_eq!(
        nix::unistd::gethostname().expect("gethostname"),
        host_before,
        "the host's hostname changed"
    );
}

#[test]
fn bind_mount_and_tmpfs_are_visible() {
    let husk = Husk::new();
    let source = tempfile::tempdir().expect("tempdir");
    fs::write(source.path().join("hello.txt"), "from the host\n").expect("write");
    let script = "cat /mnt/bind/hello.txt; \
                  grep -E ' /mnt/(bind|scratch) ' /proc/self/mountinfo; \
                  touch /mnt/bind/new 2>/dev/null && echo BIND-WRITABLE; \
                  echo in-tmpfs > /mnt/scratch/f && cat /mnt/scratch/f";
    let mut bundle = Bundle::busybox(&["sh", "-c", script]);
    bundle
        .add_mount(json!({"destination": "/mnt/bind", "type": "bind", "source": source.path(), "options": ["rbind", "ro"]}))
        .add_mount(json!({"destination": "/mnt/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"]}));
    let out = run_ok(&husk, "mounts", &bundle);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"from the host"),
        "bind mount content missing: {}",
        out.describe()
    );
    let bind_line = lines
        .iter()
        .find(|l| l.contains(" /mnt/bind "))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    // mountinfo field 6: per-mount options, "ro,..." for a read-only bind.
    assert_eq!(
        bind_line.split(' ').nth(5).map(|o| o.split(',').next()),
        Some(Some("ro")),
        "{bind_line}"
    );
    let tmpfs_line = lines
        .iter()
        .find(|l| l.contains(" /mnt/scratch "))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(
        tmpfs_line.contains(" - tmpfs "),
        "not a tmpfs: {tmpfs_line}"
    );
    assert!(lines.contains(&"in-tmpfs"), "{}", out.describe());
    assert!(
        !lines.contains(&"BIND-WRITABLE"),
        "read-only bind mount was writable: {}",
        out.describe()
    );
    assert!(
        !source.path().join("new").exists(),
        "the container wrote into the host directory"
    );
}

#[test]
fn masked_paths_read_as_empty() {
    let husk = Husk::new();
    // The masks must hide something: these exist and have content on this host.
    for file in ["/proc/keys", "/proc/timer_list"] {
        assert!(
            !fs::read(file).expect(file).is_empty(),
            "{file} is empty on the host"
        );
    }
    assert!(
        fs::read_dir("/sys/firmware")
            .expect("/sys/firmware")
            .next()
            .is_some(),
        "/sys/firmware empty on host"
    );
    let script = "for f in /proc/keys /proc/timer_list; do echo \"$f $(cat $f | wc -c)\"; done; \
                  echo \"/sys/firmware $(ls -A /sys/firmware | wc -l)\"; \
                  grep ' /proc/sys ' /proc/self/mountinfo";
    let bundle = Bundle::busybox(&["sh", "-c", script]);
    let out = run_ok(&husk, "masked", &bundle);
    let lines: Vec<&str> = out.stdout.lines().collect();
    for expected in ["/proc/keys 0", "/proc/timer_list 0", "/sys/firmware 0"] {
        assert!(
            lines.contains(&expected),
            "expected {expected:?}: {}",
            out.describe()
        );
    }
    let proc_sys = lines
        .iter()
        .find(|l| l.contains(" /proc/sys "))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert_eq!(
        proc_sys.split(' ').nth(5).map(|o| o.split(',').next()),
        Some(Some("ro")),
        "{proc_sys}"
    );
}

#[test]
fn capabilities_match_the_spec() {
    let husk = Husk::new();
    // Not the default set: includes a capability above 31 (CAP_SYSLOG = 34).
    let caps = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_RAW",
        "CAP_SYSLOG",
        "CAP_AUDIT_WRITE",
    ];
    let expected: u64 = caps
        .iter()
        .map(|c| caps::Capability::from_str(c).expect("cap name").bitmask())
        .sum();
    let mut bundle = Bundle::busybox(&["cat", "/proc/self/status"]);
    bundle.edit(|c| {
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": []});
    });
    let out = run_ok(&husk, "caps", &bundle);
    for key in ["CapEff", "CapPrm", "CapBnd"] {
        let value = status_field(&out.stdout, key);
        assert_eq!(value, [format!("{expected:016x}")], "{key}");
    }
    assert_eq!(status_field(&out.stdout, "CapAmb"), ["0000000000000000"]);
    // The default spec sets noNewPrivileges.
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), ["1"]);
}

#[test]
fn user_group_and_additional_gids() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -un",
    ]);
    bundle.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]})
    });
    let out = run_ok(&husk, "user", &bundle);
    assert_eq!(
        status_field(&out.stdout, "Uid"),
        ["1000"; 4],
        "{}",
        out.describe()
    );
    assert_eq!(
        status_field(&out.stdout, "Gid"),
        ["1000"; 4],
        "{}",
        out.describe()
    );
    let mut groups = status_field(&out.stdout, "Groups");
    groups.sort_unstable();
    assert_eq!(groups, ["10", "20"], "{}", out.describe());
    assert_eq!(
        out.stdout.lines().last(),
        Some("test"),
        "name from the rootfs /etc/passwd: {}",
        out.describe()
    );
}

#[test]
fn env_and_cwd() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&["sh", "-c", "echo \"$FOO\"; pwd"]);
    bundle.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
        c["process"]["cwd"] = json!("/tmp");
    });
    let out = run_ok(&husk, "envcwd", &bundle);
    assert_eq!(out.stdout, "bar baz\n/tmp\n", "{}", out.describe());
}

#[test]
fn rlimit_nofile() {
    let husk = Husk::new();
    let (_, host_hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    // Never above the current hard limit: root here lacks CAP_SYS_RESOURCE.
    assert!(
        host_hard >= 512,
        "host hard RLIMIT_NOFILE {host_hard} < 512"
    );
    let mut bundle = Bundle::busybox(&["sh", "-c", "ulimit -Sn; ulimit -Hn"]);
    bundle.edit(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512}])
    });
    let out = run_ok(&husk, "rlimit", &bundle);
    assert_eq!(out.stdout, "256\n512\n", "{}", out.describe());
}

#[test]
fn user_namespace_with_mapping() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g",
    ]);
    bundle.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "user"}));
        let mapping = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["uidMappings"] = mapping.clone();
        c["linux"]["gidMappings"] = mapping;
    });
    let out = run_ok(&husk, "userns", &bundle);
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["0", "100000", "65536"],
            vec!["0", "100000", "65536"],
            vec!["0"],
            vec!["0"]
        ],
        "{}",
        out.describe()
    );
}

/// A file (not CLOEXEC) that husk gets as its fd 3.
fn fd3_file() -> fs::File {
    let mut file = tempfile::tempfile().expect("tempfile");
    file.write_all(b"preserved-content\n").expect("write");
    file
}

#[test]
fn preserve_fds_passes_fd_3() {
    let husk = Husk::new();
    let bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "test -e /proc/$$/fd/3 && echo fd3-open; cat /proc/self/fd/3",
    ]);
    let id = husk.new_id("preserve");
    let file = fd3_file();
    let out = husk
        .invoke()
        .args(&["run", "--preserve-fds", "1", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .pass_fd(&file, 3)
        .output();
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "fd3-open\npreserved-content\n",
        "{}",
        out.describe()
    );
    husk.assert_nothing_left(&id, &bundle);
}

#[test]
fn fds_are_not_leaked_without_preserve_fds() {
    let husk = Husk::new();
    // Every fd of the container's shell: only stdio may be open.
    // Not the last command: ash would exec ls in its own process, which lists its directory fd.
    let bundle = Bundle::busybox(&["sh", "-c", "ls /proc/$$/fd; true"]);
    let id = husk.new_id("noleak");
    let file = fd3_file();
    let out = husk
        .invoke()
        .arg("run")
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .pass_fd(&file, 3)
        .output();
    out.assert_ok();
    let mut fds: Vec<&str> = out.stdout.lines().collect();
    fds.sort_unstable();
    assert_eq!(
        fds,
        ["0", "1", "2"],
        "fds open in the container: {}",
        out.describe()
    );
    husk.assert_nothing_left(&id, &bundle);
}

/// Removes a directory the runtime must not have created on the host.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        let _ = fs::remove_dir(&self.0);
    }
}

#[test]
fn symlink_mount_destination_stays_in_rootfs() {
    let husk = Husk::new();
    let id = husk.new_id("escape");
    let absolute = format!("husk-escape-abs-{id}");
    let relative = format!("husk-escape-rel-{id}");
    let _guards = [&absolute, &relative].map(|d| RemoveOnDrop(std::path::Path::new("/").join(d)));
    let mut bundle = Bundle::busybox(&["cat", "/proc/self/mountinfo"]);
    std::os::unix::fs::symlink("/", bundle.rootfs().join("to-root")).expect("symlink");
    std::os::unix::fs::symlink("../../../../../../..", bundle.rootfs().join("up"))
        .expect("symlink");
    bundle
        .add_mount(json!({"destination": format!("/to-root/{absolute}"), "type": "tmpfs", "source": "tmpfs"}))
        .add_mount(json!({"destination": format!("/up/{relative}"), "type": "tmpfs", "source": "tmpfs"}));
    let out = husk.run(&id, &bundle);
    out.assert_ok();
    for dir in [&absolute, &relative] {
        assert!(
            !std::path::Path::new("/").join(dir).exists(),
            "/{dir} was created on the host"
        );
        assert!(
            bundle.rootfs().join(dir).is_dir(),
            "{dir} was not created inside the rootfs"
        );
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(&format!(" /{dir} ")));
        assert!(
            line.is_some_and(|l| l.contains(" - tmpfs ")),
            "no tmpfs at /{dir} inside the container: {}",
            out.describe()
        );
    }
    husk.assert_nothing_left(&id, &bundle);
}
