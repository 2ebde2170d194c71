//! Makes the prepared rootfs the process' "/".

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use super::mount;
use crate::SpawnError;

/// pivot_root(rootfs) and detach the old root; with `no_pivot` (`--no-pivot`, e.g. on a ramfs
/// root where pivot_root fails) MS_MOVE the rootfs onto "/" and chroot into it. Ends in "/".
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<(), SpawnError> {
    if no_pivot {
        move_root(rootfs)
    } else {
        pivot_root_dot(rootfs)
    }
}

/// runc's (and LXC's) pivot_root(".", "."): the old root ends up stacked on the new one, reachable
/// through an fd, so no directory has to be created in the rootfs for it (pivot_root(2) NOTES).
fn pivot_root_dot(rootfs: &Path) -> Result<(), SpawnError> {
    let step = || format!("pivot_root {}", rootfs.display());
    let old_root = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SpawnError::setup("open /", e))?;
    let new_root = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SpawnError::setup(format!("open rootfs {}", rootfs.display()), e))?;
    fchdir(&new_root).map_err(|e| SpawnError::setup(step(), e))?;
    pivot_root(".", ".").map_err(|e| SpawnError::setup(step(), e))?;
    // The kernel gives no promise about the cwd after pivot_root: go to the old root explicitly.
    fchdir(&old_root).map_err(|e| SpawnError::setup(step(), e))?;
    // rslave before unmounting so the detach cannot propagate to the host's mounts (runc: not
    // rprivate, which races with host-side users of those mounts).
    mount(None, ".", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .map_err(|e| SpawnError::setup("make old root rslave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| SpawnError::setup("detach old root", e))?;
    chdir("/").map_err(|e| SpawnError::setup("chdir /", e))
}

fn move_root(rootfs: &Path) -> Result<(), SpawnError> {
    hide_host_proc_and_sys(rootfs)?;
    let step = || format!("move rootfs {} to /", rootfs.display());
    chdir(rootfs).map_err(|e| SpawnError::setup(step(), e))?;
    mount(Some(rootfs), "/", None, MsFlags::MS_MOVE, None)
        .map_err(|e| SpawnError::setup(step(), e))?;
    chroot(".").map_err(|e| SpawnError::setup(format!("chroot {}", rootfs.display()), e))?;
    chdir("/").map_err(|e| SpawnError::setup("chdir /", e))
}

/// Without pivot_root the host's procfs and sysfs stay in this mount namespace under the chroot,
/// and the kernel lets a process mount a new procfs or sysfs when a full one is visible in its
/// namespace (mount_too_revealing): detach them first, or cover them with a tmpfs when that is
/// refused (runc's msMoveRoot). Reads mountinfo, but only on this rare path.
fn hide_host_proc_and_sys(rootfs: &Path) -> Result<(), SpawnError> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| SpawnError::setup("read /proc/self/mountinfo", io_errno(&e)))?;
    for mountpoint in full_proc_and_sys_mounts(&mountinfo) {
        if mountpoint.starts_with(rootfs) {
            continue;
        }
        let step = || format!("hide host {}", mountpoint.display());
        match mount(
            None,
            &mountpoint,
            None,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None,
        ) {
            // Already gone with a detached parent.
            Err(Errno::ENOENT) => continue,
            result => result.map_err(|e| SpawnError::setup(step(), e))?,
        }
        match umount2(&mountpoint, MntFlags::MNT_DETACH) {
            Err(Errno::EINVAL | Errno::EPERM) => mount(
                Some(Path::new("tmpfs")),
                &mountpoint,
                Some("tmpfs"),
                MsFlags::empty(),
                None,
            )
            .map_err(|e| SpawnError::setup(step(), e))?,
            result => result.map_err(|e| SpawnError::setup(step(), e))?,
        }
    }
    Ok(())
}

/// Mount points of procfs and sysfs mounts of a filesystem's root, from mountinfo (proc(5)).
fn full_proc_and_sys_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mut fields = mount.split(' ').skip(3);
            let (root, mountpoint) = (fields.next()?, fields.next()?);
            let fstype = fs.split(' ').next()?;
            (root == "/" && matches!(fstype, "proc" | "sysfs")).then(|| unescape(mountpoint))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as \ooo octal escapes.
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_full_proc_and_sysfs_mounts() {
        let info = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n\
                    24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw\n\
                    50 27 0:21 /sys /bound\\040sys rw - proc proc rw\n\
                    51 27 0:22 / /with\\040space rw shared:1 - sysfs sysfs rw\n";
        assert_eq!(
            full_proc_and_sys_mounts(info),
            [
                PathBuf::from("/proc"),
                PathBuf::from("/sys"),
                PathBuf::from("/with space")
            ]
        );
    }
}
