//! `process.terminal`: the pty, allocated INSIDE the container after pivot_root (runc, runtime-
//! contract §1.5.6) so the peer lives in the container's devpts, bind-mounted onto /dev/console.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::mount::{self, MsFlags};
use nix::sys::stat::Mode;

use crate::error::SpawnError;

/// A pty pair: the master goes to the console socket or the parent, the peer becomes fds 0-2.
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub peer: OwnedFd,
}

/// The init's console: [`open`], then the peer bind-mounted onto /dev/console.
pub(crate) fn create(size: Option<&oci_spec::runtime::Box>) -> Result<Pty, SpawnError> {
    let (pty, peer_path) = open(size)?;
    bind_console(&peer_path)?;
    Ok(pty)
}

/// Opens /dev/ptmx, unlocks it, opens the peer (O_NOCTTY: it becomes the controlling terminal
/// only after setsid) and applies `process.consoleSize`. Returns the pair and the peer's path.
/// An exec'd process gets just this: /dev/console stays the init's (runc).
pub(crate) fn open(size: Option<&oci_spec::runtime::Box>) -> Result<(Pty, String), SpawnError> {
    let open = |path: &str| {
        fcntl::open(
            path,
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SpawnError::setup(format!("open {path}"), e))
    };
    let master = open("/dev/ptmx")?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(SpawnError::setup("unlockpt /dev/ptmx", Errno::last()));
    }
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to the valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) } != 0 {
        return Err(SpawnError::setup("ptsname /dev/ptmx", Errno::last()));
    }
    let peer_path = format!("/dev/pts/{number}");
    let peer = open(&peer_path)?;
    if let Some(size) = size {
        set_window_size(&master, size)?;
    }
    Ok((Pty { master, peer }, peer_path))
}

fn set_window_size(master: &OwnedFd, size: &oci_spec::runtime::Box) -> Result<(), SpawnError> {
    let winsize = libc::winsize {
        ws_row: size.height() as u16,
        ws_col: size.width() as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &winsize) } != 0 {
        return Err(SpawnError::setup("set the console size", Errno::last()));
    }
    Ok(())
}

/// Bind-mounts the peer onto /dev/console, creating the mount point when the rootfs has none.
fn bind_console(peer_path: &str) -> Result<(), SpawnError> {
    let step = || format!("mount {peer_path} on /dev/console");
    let bind = || {
        mount::mount(
            Some(peer_path),
            "/dev/console",
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    match bind() {
        Err(Errno::ENOENT) => {
            fcntl::open(
                "/dev/console",
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o666),
            )
            .map_err(|e| SpawnError::setup("create /dev/console", e))?;
            bind().map_err(|e| SpawnError::setup(step(), e))
        }
        other => other.map_err(|e| SpawnError::setup(step(), e)),
    }
}

/// After setsid: the peer becomes the controlling terminal and fds 0, 1 and 2.
pub(crate) fn make_controlling_terminal(peer: OwnedFd) -> Result<(), SpawnError> {
    // SAFETY: TIOCSCTTY takes an int argument, no pointer.
    if unsafe { libc::ioctl(peer.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(SpawnError::setup(
            "set the controlling terminal",
            Errno::last(),
        ));
    }
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard fds, which the container process owns from here on.
        if unsafe { libc::dup2(peer.as_raw_fd(), target) } == -1 {
            return Err(SpawnError::setup(
                format!("dup2 the console onto fd {target}"),
                Errno::last(),
            ));
        }
    }
    if peer.as_raw_fd() <= 2 {
        // The peer landed on a standard fd (the runtime ran with one closed): it IS fd 0-2 now.
        std::mem::forget(peer);
    }
    Ok(())
}
