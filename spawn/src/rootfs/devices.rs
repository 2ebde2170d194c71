//! /dev: device nodes (the defaults every container gets plus linux.devices), the standard
//! symlinks and the /dev/console placeholder.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag, ResolveFlag};
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, mknodat, umask, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};

use super::resolve::{clean, fd_path, open_or_create, shown, Leaf};
use super::{mount, RootfsContext};
use crate::{Phase, SpawnError};

/// The nodes runc and crun create in every container: (name, major, minor), mode 0666.
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("tty", 5, 0),
    ("random", 1, 8),
    ("urandom", 1, 9),
];

/// runtime-spec runtime-linux.md "Dev symbolic links", plus /dev/core as crun (runc adds it when
/// /proc/kcore exists; the default maskedPaths hide /proc/kcore anyway).
const SYMLINKS: [(&str, &str); 5] = [
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("/proc/kcore", "core"),
];

/// How device nodes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeMaker {
    /// mknod; where it is refused (a user namespace made by someone else), a bind of the host's
    /// node. The init, in its own mount namespace.
    Mknod,
    /// A bind of the host's node: the init in a new user namespace, where mknod is refused.
    Bind,
    /// mknod only, a refusal is an error: the runtime, on a /dev outside its mount namespace
    /// (where a bind cannot go); the init then makes what is missing.
    MknodOnly,
}

/// One node to create.
struct Node<'a> {
    /// Relative to the container root: "dev/null".
    path: &'a Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: Mode,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// Populates /dev unless the spec bind-mounts it from the host (then it is used as is, as runc).
pub(super) fn populate_dev(ctx: &RootfsContext, root: BorrowedFd<'_>) -> Result<(), SpawnError> {
    if dev_is_bind_mount(ctx.spec) {
        return Ok(());
    }
    let (dev, _) = open_or_create(root, Path::new("dev"), Leaf::Dir, ResolveFlag::empty())?;
    // Modes are given exactly (fileMode, 0666): no umask for the whole population.
    let saved_umask = umask(Mode::empty());
    let maker = if ctx.new_user_namespace {
        NodeMaker::Bind
    } else {
        NodeMaker::Mknod
    };
    let result = populate(ctx.spec, maker, Some(root), dev.as_fd());
    umask(saved_umask);
    result
}

/// Whether every linux.devices node goes directly in /dev (not /dev/net/tun, not elsewhere).
pub(super) fn all_in_dev(spec: &Spec) -> bool {
    spec_devices(spec)
        .iter()
        .all(|d| clean(d.path()).parent() == Some(Path::new("dev")))
}

/// The names [`populate`] makes in /dev (the console placeholder whether or not it is needed).
pub(super) fn names(spec: &Spec) -> BTreeSet<OsString> {
    let spec_names = spec_devices(spec)
        .iter()
        .filter_map(|d| clean(d.path()).file_name().map(OsStr::to_owned));
    let fixed = DEFAULT_DEVICES
        .iter()
        .map(|(name, _, _)| *name)
        .chain(SYMLINKS.iter().map(|(_, name)| *name))
        .chain(["ptmx", "console"])
        .map(OsString::from);
    spec_names.chain(fixed).collect()
}

fn spec_devices(spec: &Spec) -> &[LinuxDevice] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default()
}

/// Makes the nodes and symlinks in `dev`, with the umask cleared by the caller. `root` (the
/// container root) is for nodes below a subdirectory of /dev; without it they are refused.
pub(super) fn populate(
    spec: &Spec,
    maker: NodeMaker,
    root: Option<BorrowedFd<'_>>,
    dev: BorrowedFd<'_>,
) -> Result<(), SpawnError> {
    for device in spec_devices(spec) {
        let path = clean(device.path());
        // /dev/ptmx is always the devpts symlink below.
        if path == Path::new("dev/ptmx") {
            continue;
        }
        let node = spec_node(device, &path)?;
        let parent = path.parent().unwrap_or(Path::new(""));
        if parent == Path::new("dev") {
            create_node(maker, dev, &node)?;
        } else {
            let step = format!("mknod {}", shown(&path));
            let root = root.ok_or_else(|| SpawnError::setup(step, Errno::EXDEV))?;
            let (dir, _) = open_or_create(root, parent, Leaf::Dir, ResolveFlag::empty())?;
            create_node(maker, dir.as_fd(), &node)?;
        }
    }
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = Path::new("dev").join(name);
        let node = Node {
            path: &path,
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: Mode::from_bits_truncate(0o666),
            uid: None,
            gid: None,
        };
        create_node(maker, dev, &node)?;
    }
    for (target, name) in SYMLINKS {
        match symlinkat(target, dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SpawnError::setup(format!("symlink /dev/{name}"), e)),
        }
    }
    link_ptmx(dev)?;
    if spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
    {
        // The console step bind-mounts the pty onto it after pivot_root (crun's placeholder).
        match mknodat(
            dev,
            "console",
            SFlag::S_IFREG,
            Mode::from_bits_truncate(0o620),
            0,
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SpawnError::setup("create /dev/console", e)),
        }
    }
    Ok(())
}

/// /dev/ptmx -> pts/ptmx, replacing whatever is there: the container's ptys come from its own
/// devpts instance (mounted with newinstance,ptmxmode=0666), never the host's ptmx.
fn link_ptmx(dev: BorrowedFd<'_>) -> Result<(), SpawnError> {
    let step = "symlink /dev/ptmx";
    match symlinkat("pts/ptmx", dev, "ptmx") {
        Err(Errno::EEXIST) => {}
        result => return result.map_err(|e| SpawnError::setup(step, e)),
    }
    unlinkat(dev, "ptmx", UnlinkatFlags::NoRemoveDir).map_err(|e| SpawnError::setup(step, e))?;
    symlinkat("pts/ptmx", dev, "ptmx").map_err(|e| SpawnError::setup(step, e))
}

fn spec_node<'a>(device: &LinuxDevice, path: &'a Path) -> Result<Node<'a>, SpawnError> {
    let kind = match device.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(SpawnError::with_detail(
                Phase::Setup,
                format!("mknod {}", shown(path)),
                "device type \"a\" is only valid in cgroup rules",
            ))
        }
    };
    let number = |n: i64| {
        u64::try_from(n)
            .map_err(|_| SpawnError::setup(format!("mknod {}", shown(path)), Errno::EINVAL))
    };
    Ok(Node {
        path,
        kind,
        major: number(device.major())?,
        minor: number(device.minor())?,
        mode: Mode::from_bits_truncate(device.file_mode().unwrap_or(0o666) & 0o7777),
        uid: device.uid(),
        gid: device.gid(),
    })
}

/// Makes `node` in `dir` the way `maker` says (a bind goes onto an empty file). An existing node
/// is kept.
fn create_node(maker: NodeMaker, dir: BorrowedFd<'_>, node: &Node) -> Result<(), SpawnError> {
    let name = node.path.file_name().unwrap_or_default();
    if maker != NodeMaker::Bind {
        let dev = makedev(node.major, node.minor);
        match mknodat(dir, name, node.kind, node.mode, dev) {
            Ok(()) => return chown_node(dir, node),
            Err(Errno::EEXIST) => return Ok(()),
            // Already inside a user namespace created by someone else.
            Err(Errno::EPERM) if maker == NodeMaker::Mknod => {}
            Err(e) => return Err(SpawnError::setup(format!("mknod {}", shown(node.path)), e)),
        }
    }
    bind_host_node(dir, node)
}

fn chown_node(dir: BorrowedFd<'_>, node: &Node) -> Result<(), SpawnError> {
    // The node was made by root: only a non-root owner needs a call.
    if node.uid.unwrap_or(0) == 0 && node.gid.unwrap_or(0) == 0 {
        return Ok(());
    }
    let name = node.path.file_name().unwrap_or_default();
    fchownat(
        dir,
        name,
        node.uid.map(Uid::from_raw),
        node.gid.map(Gid::from_raw),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| SpawnError::setup(format!("chown {}", shown(node.path)), e))
}

fn bind_host_node(dir: BorrowedFd<'_>, node: &Node) -> Result<(), SpawnError> {
    let name = node.path.file_name().unwrap_or_default();
    let host_path = Path::new("/").join(node.path);
    let step = || format!("mount {} on {}", host_path.display(), shown(node.path));
    match mknodat(dir, name, SFlag::S_IFREG, Mode::empty(), 0) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(SpawnError::setup(format!("create {}", shown(node.path)), e)),
    }
    let target: OwnedFd = openat(
        dir,
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SpawnError::setup(step(), e))?;
    mount(
        Some(&host_path),
        fd_path(&target).as_str(),
        None,
        MsFlags::MS_BIND,
        None,
    )
    .map_err(|e| SpawnError::setup(step(), e))
}

fn dev_is_bind_mount(spec: &Spec) -> bool {
    spec.mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| {
            clean(m.destination()) == Path::new("dev")
                && (m.typ().as_deref() == Some("bind")
                    || m.options()
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .any(|o| o == "bind" || o == "rbind"))
        })
}
