//! The container's filesystem view: runs in the child, in its new mount namespace.
//!
//! [`prepare`] (before pivot_root, host paths still visible): isolate the mount tree from the
//! host, bind the rootfs onto itself, mount every spec mount in order with destinations resolved
//! inside the rootfs, populate /dev. [`pivot`] makes the rootfs "/". [`finalize`] (container
//! paths): readonlyPaths, maskedPaths, delayed read-only remounts, read-only root.

mod copyup;
mod devices;
mod masked;
mod mounts;
mod options;
mod pivot;
mod propagation;
mod resolve;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use nix::sys::statvfs::{statvfs, FsFlags};
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
}

/// In the child, in its new mount namespace, before pivot_root: rootfs propagation, the rootfs
/// bound onto itself, every spec mount in order (destinations resolved inside the rootfs, never
/// following symlinks out of it), then /dev (devices, symlinks, /dev/console placeholder).
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
    for mount in ctx.spec.mounts().as_deref().unwrap_or_default() {
        mounts::mount_entry(ctx, root, mount)?;
    }
    devices::populate_dev(ctx, root)
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
    // ST_RELATIME (4096) is not MS_RELATIME (1 << 21): map each flag explicitly. nix leaves
    // ST_RELATIME out on musl although the kernel reports it there too (statfs(2)).
    const ST_RELATIME: FsFlags = FsFlags::from_bits_retain(4096);
    const LOCKABLE: [(FsFlags, MsFlags); 7] = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    let current = statvfs(path)?.flags();
    let mut flags = MsFlags::empty();
    for (st, ms) in LOCKABLE {
        if current.contains(st) {
            flags |= ms;
        }
    }
    if !flags.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
        flags |= MsFlags::MS_STRICTATIME;
    }
    Ok(flags)
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
