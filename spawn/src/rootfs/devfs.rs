//! /dev built by the runtime while the init mounts. `run` waits on the init's setup, while the
//! parent is idle after clone3: the parent makes the /dev tmpfs as a detached mount (fsopen(2),
//! fsmount(2)) with the mount points of the later /dev mounts and sends it; the init moves it onto
//! /dev (move_mount(2)) when it reaches that entry, while the parent makes the nodes and symlinks
//! [`super::devices`] would make in the init, through its own fd of the same tmpfs. That takes
//! about 25 calls and 0.13 ms off `run` (README "Performance").
//!
//! Only for the shape every engine sends: one tmpfs entry on /dev with a `mode=` option and flags
//! that are mount attributes, the linux.devices nodes directly in /dev, no later mount on a name
//! /dev gets from here; and only when the init mounts in a new mount namespace without a user
//! namespace (in one, the tmpfs would belong to the runtime's, and mknod is the init's to refuse:
//! it binds host nodes instead). A failure to build (an old kernel, an option fsconfig refuses)
//! leaves /dev to the init, which then mounts and reports exactly as without this; a node the
//! runtime cannot make (its own mknod refused) is left to the init too.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::ResolveFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{mkdirat, umask, Mode};
use oci_spec::runtime::{Mount, Spec};

use super::devices::{self, NodeMaker};
use super::mount_api::{self, FsContext};
use super::options::MountOptions;
use super::resolve::{clean, open_or_create, Leaf};
use crate::SpawnError;

/// Per-mount flags that fsmount(2) takes as MOUNT_ATTR_*. MS_RDONLY is held back anyway (the
/// init remounts /dev read-only after the other mounts, as without this).
const ATTRIBUTES: [(MsFlags, u64); 6] = [
    (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
    (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
    (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    (MsFlags::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
    (MsFlags::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
    (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
];

/// A /dev the runtime can build: which spec mount it is and what goes in it.
#[derive(Debug, PartialEq, Eq)]
pub struct DevPlan {
    /// Index of the /dev entry in the spec's mounts.
    pub index: usize,
    attributes: u64,
    /// The filesystem options (`mode=755,size=65536k`), one fsconfig(2) each.
    data: String,
    /// Directories for the later mounts below /dev (`pts`, `shm`, `mqueue`).
    mount_points: BTreeSet<OsString>,
}

/// The plan for `spec`, when its /dev has the shape above.
pub fn plan(spec: &Spec) -> Option<DevPlan> {
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let mut on_dev = mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| clean(m.destination()) == Path::new("dev"));
    let (index, dev) = on_dev.next()?;
    if on_dev.next().is_some() {
        return None;
    }
    let (attributes, data) = tmpfs_attributes(dev)?;
    if !devices::all_in_dev(spec) {
        return None;
    }
    let created = devices::names(spec);
    let mut mount_points = BTreeSet::new();
    for later in &mounts[index + 1..] {
        let Ok(below) = clean(later.destination())
            .strip_prefix("dev")
            .map(Path::to_path_buf)
        else {
            continue;
        };
        let Some(first) = below.iter().next() else {
            continue;
        };
        // The init would mount there before making /dev's nodes; here they would come first.
        if created.contains(first) {
            return None;
        }
        // A bind mount point may have to be a file: the init makes it from the source.
        let bind = MountOptions::parse(later.options().as_deref().unwrap_or_default()).is_bind()
            || later.typ().as_deref() == Some("bind");
        if below.iter().count() > 1 || !bind {
            mount_points.insert(first.to_owned());
        }
    }
    Some(DevPlan {
        index,
        attributes,
        data,
        mount_points,
    })
}

/// A tmpfs entry's flags as mount attributes and its filesystem options, or `None` when it needs
/// more than fsmount(2) does.
fn tmpfs_attributes(m: &Mount) -> Option<(u64, String)> {
    let options = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let plain = m.typ().as_deref() == Some("tmpfs")
        && !options.is_bind()
        && !options.tmpcopyup
        && !options.idmap
        && m.uid_mappings().is_none()
        && m.gid_mappings().is_none()
        && options.propagation.is_none()
        && !options.has_recursive_attrs()
        // Without mode= a tmpfs keeps the mode of the directory it covers, which only the init
        // can look up.
        && options.data.split(',').any(|o| o.starts_with("mode="));
    if !plain {
        return None;
    }
    let mut flags = options.flags - MsFlags::MS_RDONLY - MsFlags::MS_RELATIME;
    let mut attributes = 0;
    for (flag, attribute) in ATTRIBUTES {
        if flags.contains(flag) {
            flags -= flag;
            attributes |= attribute;
        }
    }
    let atime_modes = (attributes & libc::MOUNT_ATTR__ATIME).count_ones()
        + u32::from(options.flags.contains(MsFlags::MS_RELATIME));
    (flags.is_empty() && atime_modes <= 1).then_some((attributes, options.data))
}

/// In the parent, while the init mounts: the /dev tmpfs as a detached mount, with the mount
/// points of the later mounts below it (the init needs those next). [`populate`] makes the rest.
pub fn build(spec: &Spec, plan: &DevPlan) -> Result<OwnedFd, SpawnError> {
    let step = "build /dev in the runtime";
    let fail = |e| SpawnError::setup(step, e);
    let m = &spec.mounts().as_deref().unwrap_or_default()[plan.index];
    let context = FsContext::open("tmpfs").map_err(fail)?;
    let source = m.source().as_deref().unwrap_or(Path::new("tmpfs"));
    let source = source
        .to_str()
        .ok_or_else(|| fail(nix::errno::Errno::EINVAL))?;
    context.set(&format!("source={source}")).map_err(fail)?;
    for option in plan.data.split(',').filter(|o| !o.is_empty()) {
        context.set(option).map_err(fail)?;
    }
    let dev = context.mount(plan.attributes).map_err(fail)?;
    for name in &plan.mount_points {
        // Under the process umask, as the init's own mkdir of a mount point (open_or_create).
        mkdirat(
            dev.as_fd(),
            name.as_os_str(),
            Mode::from_bits_truncate(0o755),
        )
        .map_err(|e| SpawnError::setup(format!("mkdir /dev/{}", Path::new(name).display()), e))?;
    }
    Ok(dev)
}

/// In the parent, once the init has the mount: the nodes and symlinks, through the parent's fd
/// of it (the same tmpfs wherever it is attached).
pub fn populate(spec: &Spec, dev: BorrowedFd<'_>) -> Result<(), SpawnError> {
    // Modes are given exactly, as in the init (devices::populate_dev).
    let saved_umask = umask(Mode::empty());
    let populated = devices::populate(spec, NodeMaker::MknodOnly, None, dev);
    umask(saved_umask);
    populated
}

/// In the init, in place of mounting the /dev entry: moves the runtime's /dev onto it.
pub(super) fn attach(root: BorrowedFd<'_>, m: &Mount, dev: OwnedFd) -> Result<(), SpawnError> {
    let source = m.source().as_deref().unwrap_or(Path::new("tmpfs"));
    let step = || format!("mount {} on /dev", source.display());
    let (target, _) = open_or_create(root, Path::new("dev"), Leaf::Dir, ResolveFlag::empty())?;
    mount_api::attach(dev.as_fd(), target.as_fd()).map_err(|e| SpawnError::setup(step(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(mounts: serde_json::Value, devices: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": mounts,
            "linux": {"devices": devices},
        }))
        .unwrap()
    }

    fn runc_mounts() -> serde_json::Value {
        serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            {"destination": "/dev/termination-log", "type": "bind", "source": "/tmp/log",
             "options": ["rbind"]},
            {"destination": "/dev/x/y", "type": "bind", "source": "/tmp/y", "options": ["rbind"]},
        ])
    }

    #[test]
    fn the_engines_dev_is_planned_with_its_mount_points() {
        let plan = plan(&spec_with(runc_mounts(), serde_json::json!([]))).unwrap();
        assert_eq!(plan.index, 1);
        assert_eq!(
            plan.attributes,
            libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_STRICTATIME
        );
        // Not termination-log: a bind mount point is a file when its source is one.
        let points: Vec<_> = plan
            .mount_points
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect();
        assert_eq!(points, ["mqueue", "pts", "shm", "x"]);
    }

    #[test]
    fn other_shapes_are_left_to_the_init() {
        let mut mounts = runc_mounts();
        let with = |mounts: &serde_json::Value, index: usize, key: &str, value| {
            let mut mounts = mounts.clone();
            mounts[index][key] = value;
            plan(&spec_with(mounts, serde_json::json!([])))
        };
        // No mode=, a flag fsmount has no attribute for, a propagation, another fs, a bind.
        for options in [
            serde_json::json!(["nosuid", "size=65536k"]),
            serde_json::json!(["nosuid", "mode=755", "sync"]),
            serde_json::json!(["mode=755", "rslave"]),
            serde_json::json!(["mode=755", "tmpcopyup"]),
        ] {
            assert_eq!(
                with(&mounts, 1, "options", options.clone()),
                None,
                "{options}"
            );
        }
        assert_eq!(with(&mounts, 1, "type", "devtmpfs".into()), None);
        assert_eq!(with(&mounts, 1, "type", "bind".into()), None);
        // A second mount on /dev, a later mount on a name /dev gets a node or link for.
        assert_eq!(with(&mounts, 3, "destination", "/dev".into()), None);
        assert_eq!(with(&mounts, 3, "destination", "/dev/null".into()), None);
        assert_eq!(with(&mounts, 3, "destination", "/dev/fd/x".into()), None);
        // A device below a subdirectory of /dev.
        mounts = runc_mounts();
        let nested =
            serde_json::json!([{"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200}]);
        assert_eq!(plan(&spec_with(mounts.clone(), nested)), None);
        let direct =
            serde_json::json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]);
        assert!(plan(&spec_with(mounts.clone(), direct.clone())).is_some());
        // ... or a later mount where a spec device goes.
        let fuse_mount = with(&mounts, 3, "destination", "/dev/fuse".into());
        assert!(fuse_mount.is_some(), "no device there in this spec");
        let mut clash = mounts.clone();
        clash[3]["destination"] = "/dev/fuse".into();
        assert_eq!(plan(&spec_with(clash, direct)), None);
    }
}
