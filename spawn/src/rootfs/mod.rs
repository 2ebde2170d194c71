//! The container's filesystem view: runs in the child, in its new mount namespace.
//!
//! [`prepare`] (before pivot_root, host paths still visible): isolate the mount tree from the
//! host, bind the rootfs onto itself, mount every spec mount in order with destinations resolved
//! inside the rootfs, populate /dev. [`pivot`] makes the rootfs "/". [`finalize`] (container
//! paths): readonlyPaths, maskedPaths, delayed read-only remounts, read-only root.

mod copyup;
pub mod devfs;
mod devices;
mod masked;
mod mount_api;
mod mounts;
mod options;
mod pivot;
mod propagation;
mod resolve;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use nix::NixPath;
use oci_spec::runtime::Spec;

use crate::SpawnError;

pub use pivot::pivot;

/// What [`prepare`] needs besides the spec.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    /// Absolute host path of the rootfs.
    pub rootfs: &'a Path,
    /// Host path of the container's cgroup directory: a cgroup mount without a cgroup namespace
    /// bind-mounts it instead of mounting a fresh cgroup2 (which costs 9-15 ms of waiting there).
    pub cgroup_dir: Option<&'a Path>,
    /// In a new user namespace mknod fails: host device nodes are bind-mounted instead.
    pub new_user_namespace: bool,
    pub new_cgroup_namespace: bool,
    /// /dev built by the runtime ([`devfs`]), when the spec's /dev has that shape.
    pub runtime_dev: Option<RuntimeDev<'a>>,
}

/// The spec's /dev entry that the runtime builds, and how to get it.
pub struct RuntimeDev<'a> {
    /// Index of the /dev entry in the spec's mounts.
    pub index: usize,
    /// Waits for the runtime's /dev as a detached mount; `None` when it could not build it
    /// (then the init mounts and populates /dev itself).
    pub receive: &'a dyn Fn() -> Result<Option<OwnedFd>, SpawnError>,
    /// Waits until the runtime has made the nodes and links in it (after the other mounts: the
    /// runtime makes them meanwhile); `false` when it could not make them all.
    pub populated: &'a dyn Fn() -> Result<bool, SpawnError>,
}

/// In the child, in its new mount namespace, before pivot_root: rootfs propagation, the rootfs
/// bound onto itself, every spec mount in order (destinations resolved inside the rootfs, never
/// following symlinks out of it), then /dev (devices, symlinks, /dev/console placeholder), unless
/// the runtime built /dev ([`devfs`]).
pub fn prepare(ctx: &RootfsContext) -> Result<(), SpawnError> {
    let root_propagation = propagation::root_flags(ctx.spec)?;
    propagation::isolate(root_propagation, ctx.rootfs)?;
    propagation::bind_rootfs(ctx.rootfs)?;
    // Opened after the self-bind so the fd is the bind mount's root: mounts made through it land
    // inside the tree that pivot_root will use.
    let root_fd = open(
        ctx.rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SpawnError::setup(format!("open rootfs {}", ctx.rootfs.display()), e))?;
    let root = root_fd.as_fd();
    let mut dev_from_runtime = None;
    for (index, mount) in ctx.spec.mounts().iter().flatten().enumerate() {
        if let Some(dev) = ctx.runtime_dev.as_ref().filter(|d| d.index == index) {
            if let Some(built) = (dev.receive)()? {
                devfs::attach(root, mount, built)?;
                dev_from_runtime = Some(dev);
                continue;
            }
        }
        mounts::mount_entry(ctx, root, mount)?;
    }
    match dev_from_runtime {
        Some(dev) if (dev.populated)()? => Ok(()),
        // Not by the runtime, or not all of it (a node it was refused): existing entries are
        // kept, the init makes the rest with its own means (in a user namespace, binds).
        _ => devices::populate_dev(ctx, root),
    }
}

/// After pivot (paths are container paths), sysctl and console: readonlyPaths, maskedPaths,
/// read-only tmpfs and /dev mounts (delayed so /dev could be populated), read-only root.
pub fn finalize(spec: &Spec) -> Result<(), SpawnError> {
    if let Some(linux) = spec.linux() {
        for path in linux.readonly_paths().as_deref().unwrap_or_default() {
            masked::make_readonly(path)?;
        }
        for path in linux.masked_paths().as_deref().unwrap_or_default() {
            masked::mask(path)?;
        }
    }
    for mount in spec.mounts().as_deref().unwrap_or_default() {
        mounts::remount_delayed_readonly(mount)?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        masked::readonly_root()?;
    }
    propagation::share_root(spec)
}

/// The flags of the mount at `path` that the kernel locks when a mount is inherited into a user
/// namespace (MNT_LOCK_*): a bind remount there must repeat them or fail with EPERM. statvfs has
/// no strictatime bit: no atime flag at all means strictatime (runc's statfsToMountFlags).
fn lockable_flags<P: ?Sized + NixPath>(path: &P) -> nix::Result<MsFlags> {
    // The raw f_flag word: nix's FsFlags drops bits it has no name for, and on musl it has none
    // for ST_RELATIME, which the kernel reports all the same (statfs(2)). ST_RELATIME (4096) is
    // not MS_RELATIME (1 << 21): map each flag explicitly.
    const ST_RELATIME: libc::c_ulong = 4096;
    const LOCKABLE: [(libc::c_ulong, MsFlags); 7] = [
        (libc::ST_RDONLY, MsFlags::MS_RDONLY),
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    let current = statvfs_flags(path)?;
    let mut flags = MsFlags::empty();
    for (st, ms) in LOCKABLE {
        if current & st != 0 {
            flags |= ms;
        }
    }
    if !flags.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
        flags |= MsFlags::MS_STRICTATIME;
    }
    Ok(flags)
}

/// statvfs(3)'s f_flag, every bit of it.
fn statvfs_flags<P: ?Sized + NixPath>(path: &P) -> nix::Result<libc::c_ulong> {
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `stat` is a valid out-pointer; the path is NUL-terminated by with_nix_path.
    let ret = path.with_nix_path(|p| unsafe { libc::statvfs(p.as_ptr(), stat.as_mut_ptr()) })?;
    Errno::result(ret)?;
    // SAFETY: statvfs returned 0, so it filled `stat`.
    Ok(unsafe { stat.assume_init() }.f_flag)
}

/// mount(2) with plain string arguments (nix's generic signature needs a type for every None).
fn mount<T: ?Sized + NixPath>(
    source: Option<&Path>,
    target: &T,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    nix::mount::mount(source, target, fstype, flags, data)
}

/// mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE): changes the given attributes on the
/// mount at `fd` and every mount below it (Linux >= 5.12; nix 0.32 has no wrapper).
fn mount_setattr_recursive(fd: BorrowedFd<'_>, set: u64, clear: u64) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is a valid NUL-terminated string, `attr` is a live mount_attr and the size
    // passed is its size; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(ret).map(drop)
}
