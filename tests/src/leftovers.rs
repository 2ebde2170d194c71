//! What a container can leave behind (state dir, cgroup, mounts, processes): finding it, asserting
//! there is none, and removing it when a test ends.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, SIGKILL};
use nix::unistd::Pid;

use crate::wait_until;

/// The cgroup2 mount of the test's private mount namespace.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup husk makes for a container without linux.cgroupsPath: `/<id>`, as runc does.
pub(crate) fn cgroup_dir(id: &str) -> PathBuf {
    Path::new(CGROUP_ROOT).join(id)
}

/// Panics unless nothing of container `id` is left: no `<root>/<id>` state entry, no cgroup
/// `/sys/fs/cgroup/<id>`, no mount in this namespace naming a path of the bundle, no process whose
/// root directory is the bundle's rootfs. Processes get 2 s to finish dying.
pub(crate) fn assert_nothing_left(root: &Path, id: &str, bundle: &Path) {
    let rootfs = bundle.join("rootfs");
    wait_until(Duration::from_secs(2), || {
        processes_rooted_at(&rootfs).is_empty()
    });
    let mut problems = Vec::new();
    let state = root.join(id);
    if fs::symlink_metadata(&state).is_ok() {
        problems.push(format!(
            "state entry {} exists ({:?})",
            state.display(),
            dir_entries(&state)
        ));
    }
    let cgroup = cgroup_dir(id);
    if cgroup.exists() {
        let procs = fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
        problems.push(format!(
            "cgroup {} exists (cgroup.procs: {:?})",
            cgroup.display(),
            procs
        ));
    }
    let mounts = mountinfo_lines_naming(bundle);
    if !mounts.is_empty() {
        problems.push(format!("mounts naming the bundle: {mounts:#?}"));
    }
    let procs = processes_rooted_at(&rootfs);
    if !procs.is_empty() {
        let described: Vec<String> = procs.iter().map(|p| describe_process(*p)).collect();
        problems.push(format!("processes rooted in the bundle: {described:?}"));
    }
    assert!(
        problems.is_empty(),
        "container {id} left things behind:\n{}",
        problems.join("\n")
    );
}

fn dir_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Lines of /proc/self/mountinfo that mention `path` (as mount point or as mounted root).
fn mountinfo_lines_naming(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo");
    mountinfo
        .lines()
        .filter(|l| l.contains(&*needle))
        .map(String::from)
        .collect()
}

/// Pids whose root directory is `rootfs`: pivot_root onto a bind mount of the rootfs keeps its
/// (st_dev, st_ino), whatever the process's mount namespace.
fn processes_rooted_at(rootfs: &Path) -> Vec<i32> {
    let Ok(target) = fs::metadata(rootfs).map(|m| (m.dev(), m.ino())) else {
        return Vec::new();
    };
    let Ok(proc_dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    proc_dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // Zombies and vanished processes have no root to stat.
            fs::metadata(format!("/proc/{pid}/root")).is_ok_and(|m| (m.dev(), m.ino()) == target)
        })
        .collect()
}

fn describe_process(pid: i32) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into())
        .collect();
    format!("{pid} {cmdline:?}")
}

/// SIGKILLs every process rooted in `rootfs` and waits (2 s at most) until they are gone.
pub(crate) fn kill_processes_rooted_at(rootfs: &Path) {
    for pid in processes_rooted_at(rootfs) {
        let _ = kill(Pid::from_raw(pid), SIGKILL);
    }
    wait_until(Duration::from_secs(2), || {
        processes_rooted_at(rootfs).is_empty()
    });
}

/// Detaches (MNT_DETACH) every mount of this namespace at or under `dir`, deepest first, so that
/// removing `dir` never descends into a mounted file system.
pub(crate) fn detach_mounts_under(dir: &Path) {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    // Field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_octal)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = umount2(&point, MntFlags::MNT_DETACH);
    }
}

fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the cgroup `/sys/fs/cgroup/<id>` and everything below it: cgroup.kill, wait until no
/// process is left (5 s at most), then rmdir from the deepest level up.
pub(crate) fn remove_cgroup(id: &str) {
    let dir = cgroup_dir(id);
    if !dir.is_dir() {
        return;
    }
    let _ = fs::write(dir.join("cgroup.kill"), "1");
    wait_until(Duration::from_secs(5), || {
        fs::read_to_string(dir.join("cgroup.events")).map_or(true, |e| e.contains("populated 0"))
    });
    remove_cgroup_tree(&dir);
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}
