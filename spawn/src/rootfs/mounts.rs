//! One spec mount: resolve the destination inside the rootfs, mount, then the follow-up calls the
//! options need (bind remount, propagation, recursive attributes).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::ResolveFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{fstat, stat, SFlag};
use oci_spec::runtime::Mount;

use super::copyup;
use super::options::MountOptions;
use super::resolve::{clean, fd_path, open_in_root, open_or_create, shown, Leaf};
use super::{lockable_flags, mount, mount_setattr_recursive, RootfsContext};
use crate::{Phase, SpawnError};

/// How a spec entry is mounted.
enum Kind<'m> {
    Bind,
    Cgroup,
    Filesystem(&'m str),
}

/// One spec mount, parsed: everything the steps below need.
struct Entry<'m> {
    kind: Kind<'m>,
    /// The destination relative to the container root ("dev/pts").
    dest: PathBuf,
    /// `source`, or the type when there is none ("proc"), as mount(2) and messages want it.
    source: &'m Path,
    options: MountOptions,
}

impl<'m> Entry<'m> {
    fn parse(m: &'m Mount) -> Entry<'m> {
        let options = MountOptions::parse(m.options().as_deref().unwrap_or_default());
        let fstype = m.typ().as_deref().unwrap_or("");
        let kind = if options.is_bind() || fstype == "bind" {
            Kind::Bind
        } else if fstype == "cgroup" || fstype == "cgroup2" {
            Kind::Cgroup
        } else {
            Kind::Filesystem(fstype)
        };
        let source = m.source().as_deref().unwrap_or(Path::new(fstype));
        Entry {
            kind,
            dest: clean(m.destination()),
            source,
            options,
        }
    }

    fn step(&self) -> String {
        format!("mount {} on {}", self.source.display(), shown(&self.dest))
    }

    fn fail(&self, errno: Errno) -> SpawnError {
        SpawnError::setup(self.step(), errno)
    }

    /// tmpfs and a non-bind /dev are mounted read-write and made read-only in
    /// [`remount_delayed_readonly`]: files are created in them (devices, mount points) first.
    fn readonly_is_delayed(&self) -> bool {
        matches!(self.kind, Kind::Filesystem("tmpfs"))
            || (self.dest == Path::new("dev") && !matches!(self.kind, Kind::Bind))
    }
}

/// Mounts one spec entry inside the rootfs `root`.
pub(super) fn mount_entry(
    ctx: &RootfsContext,
    root: BorrowedFd<'_>,
    m: &Mount,
) -> Result<(), SpawnError> {
    let entry = Entry::parse(m);
    if entry.options.idmap || m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Err(unsupported(&entry, "idmapped mounts are not supported"));
    }
    if entry.options.tmpcopyup && !matches!(entry.kind, Kind::Filesystem("tmpfs")) {
        return Err(unsupported(&entry, "tmpcopyup is only valid for tmpfs"));
    }
    if !proc_destination_allowed(&entry.dest) {
        return Err(unsupported(&entry, "the destination is inside /proc"));
    }
    let remount = match entry.kind {
        Kind::Bind => {
            mount_bind(root, &entry, entry.source)?;
            entry.options.bind_needs_remount()
        }
        Kind::Cgroup => mount_cgroup(ctx, root, &entry)?,
        Kind::Filesystem(fstype) => mount_filesystem(root, &entry, fstype)?,
    };
    let options = &entry.options;
    if !remount && options.propagation.is_none() && !options.has_recursive_attrs() {
        return Ok(());
    }
    // The fd used for the mount still names the directory underneath; a fresh lookup crosses
    // into the new mount.
    let mounted =
        open_in_root(root, &entry.dest, ResolveFlag::empty()).map_err(|e| entry.fail(e))?;
    if remount {
        remount_bind(&entry, &mounted)?;
    }
    if let Some(propagation) = options.propagation {
        mount(None, fd_path(&mounted).as_str(), None, propagation, None).map_err(|e| {
            SpawnError::setup(format!("set propagation of {}", shown(&entry.dest)), e)
        })?;
    }
    if options.has_recursive_attrs() {
        mount_setattr_recursive(
            mounted.as_fd(),
            options.recursive_set,
            options.recursive_clear,
        )
        .map_err(|e| SpawnError::setup(format!("mount_setattr {}", shown(&entry.dest)), e))?;
    }
    Ok(())
}

/// Binds `source` (a host path) onto the destination, creating a directory or an empty file
/// there, like the source, when it is missing.
fn mount_bind(root: BorrowedFd<'_>, entry: &Entry, source: &Path) -> Result<(), SpawnError> {
    let target = match open_in_root(root, &entry.dest, ResolveFlag::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => {
            let source_stat = stat(source).map_err(|e| entry.fail(e))?;
            let is_dir =
                SFlag::from_bits_truncate(source_stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
            let leaf = if is_dir { Leaf::Dir } else { Leaf::File };
            open_or_create(root, &entry.dest, leaf, ResolveFlag::empty())?.0
        }
        Err(e) => return Err(entry.fail(e)),
    };
    let flags = MsFlags::MS_BIND | (entry.options.flags & MsFlags::MS_REC);
    mount(Some(source), fd_path(&target).as_str(), None, flags, None).map_err(|e| entry.fail(e))
}

/// MS_BIND|MS_REMOUNT with the requested flags. In a user namespace the source's locked flags
/// must be kept (EPERM otherwise): on EPERM they are read with statvfs and added, unless the
/// options explicitly clear one of them, which cannot be honoured (runc does the same).
fn remount_bind(entry: &Entry, mounted: &OwnedFd) -> Result<(), SpawnError> {
    let step = || format!("remount {}", shown(&entry.dest));
    let target = fd_path(mounted);
    let flags = (entry.options.flags - MsFlags::MS_REC) | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount(None, target.as_str(), None, flags, None) {
        Err(Errno::EPERM) => {}
        result => return result.map_err(|e| SpawnError::setup(step(), e)),
    }
    let locked = lockable_flags(target.as_str()).map_err(|e| SpawnError::setup(step(), e))?;
    if locked.intersects(entry.options.cleared) {
        return Err(SpawnError::setup(step(), Errno::EPERM));
    }
    mount(None, target.as_str(), None, flags | locked, None)
        .map_err(|e| SpawnError::setup(step(), e))
}

/// cgroup v2 only (the host's v1 hierarchies are never given to containers). Without a cgroup
/// namespace a fresh cgroup2 mount would show the host's whole tree and costs 9-15 ms on this
/// kernel: bind the container's own cgroup directory instead. Returns whether the bind needs the
/// flag remount.
fn mount_cgroup(
    ctx: &RootfsContext,
    root: BorrowedFd<'_>,
    entry: &Entry,
) -> Result<bool, SpawnError> {
    if let (false, Some(dir)) = (ctx.new_cgroup_namespace, ctx.cgroup_dir) {
        mount_bind(root, entry, dir)?;
        return Ok(true);
    }
    let (target, _) = open_or_create(root, &entry.dest, Leaf::Dir, ResolveFlag::empty())?;
    let data = Some(entry.options.data.as_str()).filter(|d| !d.is_empty());
    let flags = entry.options.flags - MsFlags::MS_REC;
    match mount(
        Some(Path::new("cgroup2")),
        fd_path(&target).as_str(),
        Some("cgroup2"),
        flags,
        data,
    ) {
        // A user namespace without its own cgroup namespace may not mount cgroup2.
        Err(errno @ (Errno::EPERM | Errno::EBUSY)) => match ctx.cgroup_dir {
            Some(dir) => mount_bind(root, entry, dir).map(|()| true),
            None => Err(entry.fail(errno)),
        },
        result => result.map(|()| false).map_err(|e| entry.fail(e)),
    }
}

/// proc, sysfs, tmpfs, devpts, mqueue, overlay... Returns whether a bind remount is needed (only
/// for the sysfs fallback).
fn mount_filesystem(root: BorrowedFd<'_>, entry: &Entry, fstype: &str) -> Result<bool, SpawnError> {
    // proc and sysfs must land on a real directory, never through a symlink (runc: mounting
    // them through symlinks has been an attack vector).
    let extra = if matches!(fstype, "proc" | "sysfs") {
        ResolveFlag::RESOLVE_NO_SYMLINKS
    } else {
        ResolveFlag::empty()
    };
    let (target, existed) = open_or_create(root, &entry.dest, Leaf::Dir, extra)?;
    let mut flags = entry.options.flags - MsFlags::MS_REC;
    if entry.readonly_is_delayed() {
        flags -= MsFlags::MS_RDONLY;
    }
    let mut data = std::borrow::Cow::Borrowed(entry.options.data.as_str());
    if fstype == "tmpfs" && existed && !data.contains("mode=") {
        // Keep the permissions of the directory the tmpfs covers (runc); a fresh tmpfs is 1777.
        let mode = fstat(target.as_fd()).map_err(|e| entry.fail(e))?.st_mode & 0o7777;
        data = if data.is_empty() {
            format!("mode={mode:o}").into()
        } else {
            format!("mode={mode:o},{data}").into()
        };
    }
    let data = Some(data.as_ref()).filter(|d| !d.is_empty());
    let covered = if entry.options.tmpcopyup {
        Some(copyup::open_dir(target.as_fd()).map_err(|e| copy_failed(entry, e))?)
    } else {
        None
    };
    let mounted = mount(
        Some(entry.source),
        fd_path(&target).as_str(),
        Some(fstype),
        flags,
        data,
    );
    if let (Ok(()), Some(covered)) = (&mounted, covered) {
        let fresh =
            open_in_root(root, &entry.dest, ResolveFlag::empty()).map_err(|e| entry.fail(e))?;
        let fresh = copyup::open_dir(fresh.as_fd()).map_err(|e| copy_failed(entry, e))?;
        copyup::copy_tree(covered, fresh.as_fd()).map_err(|e| copy_failed(entry, e))?;
    }
    match mounted {
        // sysfs in a user namespace that does not own a network namespace is refused: bind the
        // host's /sys instead (runc does the same for rootless containers).
        Err(Errno::EPERM) if fstype == "sysfs" => {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(
                Some(Path::new("/sys")),
                fd_path(&target).as_str(),
                None,
                flags,
                None,
            )
            .map_err(|e| entry.fail(e))?;
            Ok(true)
        }
        result => result.map(|()| false).map_err(|e| entry.fail(e)),
    }
}

/// In [`super::finalize`], after pivot: makes read-only the tmpfs and /dev mounts whose
/// read-only flag was held back by [`mount_filesystem`].
pub(super) fn remount_delayed_readonly(m: &Mount) -> Result<(), SpawnError> {
    let entry = Entry::parse(m);
    if !entry.options.flags.contains(MsFlags::MS_RDONLY) || !entry.readonly_is_delayed() {
        return Ok(());
    }
    let path = shown(&entry.dest);
    let flags = (entry.options.flags - MsFlags::MS_REC) | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    mount(None, path.as_str(), None, flags, None)
        .map_err(|e| SpawnError::setup(format!("remount {path} read-only"), e))
}

/// Nothing may be mounted under /proc except the files lxcfs emulates (runc's checkProcMount):
/// a mount over e.g. /proc/self/attr or /proc/sys would defeat the container's protections.
fn proc_destination_allowed(dest: &Path) -> bool {
    const LXCFS_FILES: [&str; 10] = [
        "proc/cpuinfo",
        "proc/diskstats",
        "proc/meminfo",
        "proc/stat",
        "proc/swaps",
        "proc/uptime",
        "proc/loadavg",
        "proc/slabinfo",
        "proc/net/dev",
        "proc/sys/kernel/ns_last_pid",
    ];
    !dest.starts_with("proc")
        || dest == Path::new("proc")
        || LXCFS_FILES.iter().any(|f| dest == Path::new(f))
}

fn copy_failed(entry: &Entry, errno: Errno) -> SpawnError {
    SpawnError::setup(format!("tmpcopyup {}", shown(&entry.dest)), errno)
}

fn unsupported(entry: &Entry, what: &str) -> SpawnError {
    SpawnError::with_detail(Phase::Setup, entry.step(), what)
}
