//! A container's cgroup: create (mkdir + controllers + resources, undone on failure), open, kill,
//! freeze/thaw, destroy, update.

use std::cell::OnceCell;
use std::fs::{DirBuilder, File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use oci_spec::runtime::LinuxResources;

use crate::devices;
use crate::error::{CgroupError, SysError};
use crate::hierarchy::{Controllers, Hierarchy};
use crate::resources;
use crate::{file, path};

/// How long destroy waits for the killed processes to leave, and freeze/thaw for the kernel to
/// report the new state.
const WAIT_EMPTY: Duration = Duration::from_secs(10);
const WAIT_FROZEN: Duration = Duration::from_secs(5);
/// rmdir attempts on EBUSY (the kernel can lag a moment behind "populated 0").
const RMDIR_ATTEMPTS: u32 = 10;

#[derive(Debug)]
pub struct Cgroup {
    root: PathBuf,
    dir: PathBuf,
    /// `create` made the leaf directory: its files still hold the kernel's defaults.
    fresh: bool,
    /// The directory, opened once on first use and shared by the device filter's attach and
    /// clone3(CLONE_INTO_CGROUP).
    fd: OnceCell<OwnedFd>,
}

impl Cgroup {
    /// mkdir -p, enabling the controllers the root offers in each ancestor (one write per level),
    /// applying the resources but the device rules ([`Cgroup::install_devices`]); an unavailable
    /// controller that is asked for is an error naming it; on any error everything this call
    /// created is removed.
    pub fn create(
        h: &Hierarchy,
        rel: &Path,
        resources: Option<&LinuxResources>,
    ) -> Result<Cgroup, CgroupError> {
        let dir = path::under_root(h.root(), rel)?;
        let asked = resources
            .map(resources::requested)
            .transpose()?
            .unwrap_or_default();
        let available = h.controllers()?;
        resources::check_available(&asked, &available, h.root())?;

        let mut created = Vec::new();
        let result = make_levels(h.root(), &dir, &available, &asked, &mut created).and_then(|()| {
            let cgroup = Cgroup {
                root: h.root().to_owned(),
                fresh: created.last() == Some(&dir),
                dir: dir.clone(),
                fd: OnceCell::new(),
            };
            if let Some(res) = resources {
                resources::apply(&cgroup.dir, res)?;
            }
            Ok(cgroup)
        });
        if result.is_err() {
            for level in created.iter().rev() {
                // Best effort: the original error is the one worth reporting.
                let _ = std::fs::remove_dir(level);
            }
        }
        result
    }

    /// An existing container's cgroup (nothing is checked until it is used).
    pub fn open(h: &Hierarchy, rel: &Path) -> Cgroup {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        Cgroup {
            root: h.root().to_owned(),
            dir: h.root().join(rel),
            fresh: false,
            fd: OnceCell::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True for a cgroup whose directory `create` made (not for `open`): every file holds the
    /// kernel's default.
    pub(crate) fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// The cgroup directory, opened on the first call (O_RDONLY|O_DIRECTORY|O_CLOEXEC) and kept:
    /// it serves clone3(CLONE_INTO_CGROUP) (clone(2): "cgroup" is a file descriptor referring to a
    /// directory in a cgroup v2 hierarchy) and BPF_PROG_ATTACH, which refuses O_PATH descriptors.
    pub fn fd(&self) -> Result<BorrowedFd<'_>, CgroupError> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_fd());
        }
        let fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&self.dir)
            .map_err(|e| CgroupError::Open {
                path: self.dir.clone(),
                errno: e.into(),
            })?;
        Ok(self.fd.get_or_init(|| fd.into()).as_fd())
    }

    /// The pids in cgroup.procs (this cgroup only, not its children).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        read_pids(&self.dir)
    }

    /// The pids of the cgroup and of every cgroup below it (`ps`: a container may nest cgroups).
    pub fn all_pids(&self) -> Result<Vec<i32>, CgroupError> {
        tree_pids(&self.dir)
    }

    /// SIGKILL through cgroup.kill (Linux 5.14: kills the whole subtree atomically, no pid races);
    /// any other signal, or an older kernel, goes to every pid in the cgroup and its children.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        if signal == libc::SIGKILL {
            match file::write(&self.dir, "cgroup.kill", "1") {
                Err(e) if e.errno() == Some(Errno::ENOENT) && self.dir.exists() => {}
                result => return result,
            }
        }
        for pid in tree_pids(&self.dir)? {
            // SAFETY: kill(2) takes two integers and touches no memory of ours. libc rather than
            // nix: nix's Signal cannot express real-time signals, which `kill --all` may send.
            if unsafe { libc::kill(pid, signal) } == -1 {
                match Errno::last() {
                    Errno::ESRCH => {}
                    errno => {
                        return Err(CgroupError::Kill {
                            pid,
                            signal,
                            errno: errno.into(),
                        })
                    }
                }
            }
        }
        Ok(())
    }

    /// cgroup.freeze = 1, then wait until cgroup.events says `frozen 1`.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        file::write(&self.dir, "cgroup.freeze", "1")?;
        self.wait_event("frozen 1", WAIT_FROZEN)
    }

    /// cgroup.freeze = 0, then wait until cgroup.events says `frozen 0`.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        file::write(&self.dir, "cgroup.freeze", "0")?;
        self.wait_event("frozen 0", WAIT_FROZEN)
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        let events = file::read(&self.dir, "cgroup.events")?;
        Ok(event_value(&events, "frozen") == Some("1"))
    }

    /// Kill everything, wait for `populated 0`, rmdir (child cgroups first), with bounded retries on
    /// EBUSY. A cgroup that is already gone is not an error.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        // Usually the init is reaped and nothing else was left: the first rmdir succeeds. It fails
        // with EBUSY while the cgroup is populated or has children (cgroup-v2.rst "Removing").
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    || e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
            Err(e) => {
                return Err(CgroupError::Rmdir {
                    path: self.dir.clone(),
                    errno: e.into(),
                })
            }
        }
        let events = match file::read_optional(&self.dir, "cgroup.events")? {
            Some(events) => events,
            None => return Ok(()),
        };
        if event_value(&events, "populated") != Some("0") {
            self.kill_all(libc::SIGKILL)?;
            // On timeout, fall through: rmdir's EBUSY error names the pids that stayed.
            let _ = self.wait_event("populated 0", WAIT_EMPTY);
        }
        remove_tree(&self.dir)
    }

    /// The device filter for `resources.devices`: a BPF_PROG_TYPE_CGROUP_DEVICE program, attached
    /// before any older one is detached. Apart from `create` because the BPF verifier makes it the
    /// slowest step of a start: the runtime runs it while the init sets up.
    pub fn install_devices(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        match resources.devices() {
            Some(rules) => devices::apply(self, rules, self.fresh),
            None => Ok(()),
        }
    }

    /// The same writers as create (devices are not among them: runc update never changes device
    /// rules either). A
    /// quota or period alone keeps the other half of cpu.max, a swap limit alone is relative to the
    /// current memory.max.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let asked = resources::requested(resources)?;
        if !asked.is_empty() {
            let available = Hierarchy::at(&self.root).controllers()?;
            resources::check_available(&asked, &available, &self.root)?;
        }
        let merged = resources::merged_for_update(&self.dir, resources)?;
        resources::apply(&self.dir, &merged)
    }

    /// Waits until cgroup.events has the line `entry` ("frozen 1"), woken by the kernel's POLLPRI
    /// notification on every change of the file (cgroup-v2.rst "cgroup.events"), re-reading it each
    /// time.
    fn wait_event(&self, entry: &'static str, timeout: Duration) -> Result<(), CgroupError> {
        let (key, want) = entry.split_once(' ').expect("\"key value\"");
        let path = self.dir.join("cgroup.events");
        let events = File::open(&path).map_err(|e| CgroupError::Open {
            path: path.clone(),
            errno: e.into(),
        })?;
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 256];
        loop {
            let n = events.read_at(&mut buf, 0).map_err(|e| CgroupError::Read {
                path: path.clone(),
                errno: e.into(),
            })?;
            if event_value(&String::from_utf8_lossy(&buf[..n]), key) == Some(want) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CgroupError::Timeout {
                    path,
                    what: entry,
                    ms: timeout.as_millis() as u64,
                });
            }
            // Slices of at most 50 ms: a notification that raced the read is not waited out.
            let slice = left.min(Duration::from_millis(50)).as_millis() as u16;
            let mut fds = [PollFd::new(events.as_fd(), PollFlags::POLLPRI)];
            match poll(&mut fds, slice) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => {
                    return Err(CgroupError::Read {
                        path,
                        errno: errno.into(),
                    })
                }
            }
        }
    }
}

/// The value of `key` in a flat-keyed file like cgroup.events ("populated 0\nfrozen 0\n").
pub(crate) fn event_value<'a>(content: &'a str, key: &str) -> Option<&'a str> {
    content
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(' ').map(str::trim))
}

/// Creates every missing level from `root` down to `dir`, recording what it made in `created`.
/// Before descending from a level, the root's controllers are enabled in its subtree_control, so
/// they reach the leaf; the leaf's own subtree_control is left alone (no-internal-process rule).
fn make_levels(
    root: &Path,
    dir: &Path,
    available: &Controllers,
    asked: &[(String, &str)],
    created: &mut Vec<PathBuf>,
) -> Result<(), CgroupError> {
    let rel = dir.strip_prefix(root).expect("dir is built under root");
    let any_controllers = available.names().next().is_some();
    let mut level = root.to_owned();
    let mut level_is_new = false;
    for component in rel.components() {
        if any_controllers {
            enable_controllers(&level, level_is_new, available, asked)?;
        }
        level.push(component);
        level_is_new = true;
        match DirBuilder::new().mode(0o755).create(&level) {
            Ok(()) => created.push(level.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => level_is_new = false,
            Err(e) => {
                return Err(CgroupError::Mkdir {
                    path: level,
                    errno: e.into(),
                })
            }
        }
    }
    Ok(())
}

/// One read of subtree_control (none for a level this call made: it has nothing enabled), then one
/// write of every missing controller (`+cpu +memory ...`); only if that write fails, one write per
/// controller, where a failure is fatal only for a controller the resources ask something of.
fn enable_controllers(
    level: &Path,
    level_is_new: bool,
    available: &Controllers,
    asked: &[(String, &str)],
) -> Result<(), CgroupError> {
    let enabled = if level_is_new {
        Controllers::default()
    } else {
        Controllers(file::read(level, "cgroup.subtree_control")?)
    };
    let missing: Vec<&str> = available.names().filter(|c| !enabled.contains(c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    let err = match file::write(level, "cgroup.subtree_control", &all.join(" ")) {
        Ok(()) => return Ok(()),
        Err(e) => e.errno().unwrap_or(Errno::EIO),
    };
    // EBUSY: the level holds processes, and the no-internal-process rule (cgroup-v2.rst) forbids
    // domain controllers there. Enabling only the threaded ones (cpu, pids...) one by one would
    // turn the children into invalid domains that refuse processes, so leave the level as it is.
    for controller in missing {
        let enabled = err != Errno::EBUSY
            && file::write(level, "cgroup.subtree_control", &format!("+{controller}")).is_ok();
        if !enabled && asked.iter().any(|(_, c)| *c == controller) {
            return Err(CgroupError::EnableController {
                path: level.join("cgroup.subtree_control"),
                controller: controller.to_owned(),
                errno: SysError(err),
            });
        }
    }
    Ok(())
}

/// rmdir `dir`; on EBUSY, first its child cgroups (depth first), then retry with a growing pause.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let mut pause = Duration::from_millis(1);
    for attempt in 0..RMDIR_ATTEMPTS {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    || e.raw_os_error() == Some(libc::ENOTEMPTY) =>
            {
                if attempt == 0 {
                    for child in child_dirs(dir)? {
                        remove_tree(&child)?;
                    }
                    continue;
                }
            }
            Err(e) => {
                return Err(CgroupError::Rmdir {
                    path: dir.to_owned(),
                    errno: e.into(),
                })
            }
        }
        sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    let pids = read_pids(dir).unwrap_or_default();
    Err(CgroupError::Busy {
        path: dir.to_owned(),
        pids,
    })
}

fn read_pids(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let content = file::read(dir, "cgroup.procs")?;
    content
        .lines()
        .map(|line| {
            line.trim().parse().map_err(|_| CgroupError::Parse {
                path: dir.join("cgroup.procs"),
                content: line.to_owned(),
            })
        })
        .collect()
}

/// The pids of the cgroup and of every cgroup below it.
fn tree_pids(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = read_pids(dir)?;
    for child in child_dirs(dir)? {
        pids.extend(tree_pids(&child)?);
    }
    Ok(pids)
}

pub(crate) fn child_dirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CgroupError::Read {
        path: dir.to_owned(),
        errno: e.into(),
    })?;
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::{LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};
    use std::collections::HashMap;

    const ALL: &str = "cpu memory pids io cpuset hugetlb rdma\n";

    fn memory_limit(limit: i64) -> LinuxResources {
        let memory = LinuxMemoryBuilder::default().limit(limit).build().unwrap();
        LinuxResourcesBuilder::default()
            .memory(memory)
            .build()
            .unwrap()
    }

    fn unified(key: &str, value: &str) -> LinuxResources {
        let map = HashMap::from([(key.to_owned(), value.to_owned())]);
        LinuxResourcesBuilder::default()
            .unified(map)
            .build()
            .unwrap()
    }

    #[test]
    fn no_controllers_no_resources_makes_every_level_without_reading_subtree_control() {
        // No cgroup.subtree_control anywhere: reading one would fail.
        let fx = Fixture::new(&["cgroup.controllers"]);
        let h = Hierarchy::at(fx.dir());
        let cg = Cgroup::create(&h, Path::new("/a/b/c"), None).unwrap();
        assert_eq!(cg.dir(), fx.dir().join("a/b/c"));
        assert!(cg.dir().is_dir());
        let empty = LinuxResourcesBuilder::default().build().unwrap();
        Cgroup::create(&h, Path::new("/a/b/d"), Some(&empty)).unwrap();
        assert!(fx.dir().join("a/b/d").is_dir());
    }

    #[test]
    fn one_write_per_level_skipping_levels_that_have_everything() {
        let fx = Fixture::new(&[]);
        fx.set("cgroup.controllers", ALL);
        fx.set("cgroup.subtree_control", "");
        fx.set(
            "kubepods/cgroup.subtree_control",
            "cpu io memory pids cpuset hugetlb rdma\n",
        );
        fx.set("kubepods/burstable/cgroup.subtree_control", "cpu memory\n");
        for f in ["memory.max", "memory.swap.max", "memory.low", "pids.max"] {
            fx.set(&format!("kubepods/burstable/ctr/{f}"), "");
        }
        let res = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1 << 30)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(64).build().unwrap())
            .build()
            .unwrap();
        let h = Hierarchy::at(fx.dir());
        Cgroup::create(&h, Path::new("/kubepods/burstable/ctr"), Some(&res)).unwrap();
        assert_eq!(
            fx.content("cgroup.subtree_control"),
            "+cpu +memory +pids +io +cpuset +hugetlb +rdma"
        );
        assert_eq!(
            fx.content("kubepods/cgroup.subtree_control"),
            "cpu io memory pids cpuset hugetlb rdma\n"
        );
        assert_eq!(
            fx.content("kubepods/burstable/cgroup.subtree_control"),
            "+pids +io +cpuset +hugetlb +rdma"
        );
        assert_eq!(
            fx.content("kubepods/burstable/ctr/memory.max"),
            "1073741824"
        );
        assert_eq!(fx.content("kubepods/burstable/ctr/pids.max"), "64");
        assert_eq!(fx.content("kubepods/burstable/ctr/memory.swap.max"), "");
    }

    #[test]
    fn unavailable_controller_is_named_and_nothing_is_made() {
        let fx = Fixture::new(&[]);
        fx.set("cgroup.controllers", "cpu pids\n");
        let h = Hierarchy::at(fx.dir());
        let err =
            Cgroup::create(&h, Path::new("/x/ctr"), Some(&memory_limit(1 << 20))).unwrap_err();
        let root = fx.dir().display();
        assert_eq!(
            err.to_string(),
            format!("cgroup: memory limit requested but the memory controller is not available in {root}")
        );
        let err = Cgroup::create(&h, Path::new("/x/ctr"), Some(&unified("memory.high", "1")))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cgroup: unified key \"memory.high\" requested but the memory controller is not available in {root}")
        );
        let err = Cgroup::create(&h, Path::new("/x/ctr"), Some(&unified("../x", "1"))).unwrap_err();
        assert!(
            matches!(
                err,
                CgroupError::InvalidResource {
                    field: "unified",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!fx.dir().join("x").exists());
    }

    #[test]
    fn a_failing_write_removes_every_level_made() {
        let fx = Fixture::new(&["cgroup.controllers"]);
        fx.set("existing/cgroup.procs", "");
        let h = Hierarchy::at(fx.dir());
        // cgroup.* keys need no controller; the new leaf has no such file, so the write fails.
        let err = Cgroup::create(
            &h,
            Path::new("/existing/new/leaf"),
            Some(&unified("cgroup.max.depth", "2")),
        )
        .unwrap_err();
        assert_eq!(err.errno(), Some(Errno::ENOENT), "{err}");
        assert!(
            err.to_string()
                .contains("existing/new/leaf/cgroup.max.depth"),
            "{err}"
        );
        assert!(!fx.dir().join("existing/new").exists());
        assert!(
            fx.dir().join("existing").is_dir(),
            "a level that was there stays"
        );
    }

    #[test]
    fn failing_to_enable_an_asked_controller_removes_the_levels_made() {
        let fx = Fixture::new(&["cgroup.subtree_control"]);
        fx.set("cgroup.controllers", "memory pids\n");
        let h = Hierarchy::at(fx.dir());
        // The new level "a" has no cgroup.subtree_control in a tempdir: both the "+memory +pids"
        // write and the per-controller fallback fail; pids is not asked for, memory is.
        let err = Cgroup::create(&h, Path::new("/a/b"), Some(&memory_limit(1 << 20))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cgroup: enable the memory controller in {}: no such file or directory (ENOENT)",
                fx.dir().join("a/cgroup.subtree_control").display()
            )
        );
        assert!(!fx.dir().join("a").exists());
        // Nothing asked: the failure to enable is not fatal.
        Cgroup::create(&h, Path::new("/a/b"), None).unwrap();
        assert!(fx.dir().join("a/b").is_dir());
        assert_eq!(fx.content("cgroup.subtree_control"), "+memory +pids");
    }

    #[test]
    fn a_directory_where_a_file_should_be_fails_the_write() {
        let fx = Fixture::new(&[]);
        fx.set("cgroup.controllers", "pids\n");
        fx.set("ctr/pids.max/oops", "");
        let cg = Cgroup::open(&Hierarchy::at(fx.dir()), Path::new("/ctr"));
        let res = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(1).build().unwrap())
            .build()
            .unwrap();
        let err = cg.update(&res).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::EISDIR), "{err}");
    }

    #[test]
    fn update_writes_and_checks_controllers() {
        let fx = Fixture::new(&["ctr/memory.max", "ctr/memory.swap.max"]);
        fx.set("cgroup.controllers", ALL);
        let h = Hierarchy::at(fx.dir());
        let cg = Cgroup::open(&h, Path::new("ctr"));
        cg.update(&memory_limit(-1)).unwrap();
        assert_eq!(fx.content("ctr/memory.max"), "max");
        assert_eq!(fx.content("ctr/memory.swap.max"), "max");
        fx.set("cgroup.controllers", "cpu\n");
        let err = cg.update(&memory_limit(5)).unwrap_err();
        assert!(
            matches!(err, CgroupError::ControllerUnavailable { .. }),
            "{err}"
        );
    }

    #[test]
    fn pids_frozen_and_events() {
        let fx = Fixture::new(&[]);
        fx.set("ctr/cgroup.procs", "12\n345\n");
        fx.set("ctr/cgroup.events", "populated 1\nfrozen 1\n");
        fx.set("ctr/cgroup.freeze", "");
        let cg = Cgroup::open(&Hierarchy::at(fx.dir()), Path::new("/ctr"));
        assert_eq!(cg.pids().unwrap(), vec![12, 345]);
        assert!(cg.is_frozen().unwrap());
        cg.freeze().unwrap();
        assert_eq!(fx.content("ctr/cgroup.freeze"), "1");
        fx.set("ctr/cgroup.procs", "12\nx\n");
        assert!(matches!(cg.pids(), Err(CgroupError::Parse { .. })));
        assert_eq!(event_value("populated 0\nfrozen 1\n", "frozen"), Some("1"));
        assert_eq!(event_value("populated 0\n", "pop"), None);
    }

    #[test]
    fn destroy_of_a_missing_cgroup_is_ok() {
        let fx = Fixture::new(&[]);
        Cgroup::open(&Hierarchy::at(fx.dir()), Path::new("/gone"))
            .destroy()
            .unwrap();
    }
}
