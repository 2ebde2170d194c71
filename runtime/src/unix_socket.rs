//! The unix stream sockets husk connects to as a client: `--console-socket` and the seccomp agent's
//! `listenerPath`.
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};

/// A close-on-exec SOCK_STREAM socket connected to `path`.
pub fn connect_stream(path: &Path) -> Result<OwnedFd, Errno> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(sock.as_raw_fd(), &UnixAddr::new(path)?)?;
    Ok(sock)
}
