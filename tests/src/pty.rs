//! Reading a container's terminal from its pty master.
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Reads `master` into `seen` until `needle` shows up, the other side is gone (EIO) or `timeout`
/// passes; whether `needle` was seen.
pub fn read_until(master: &OwnedFd, needle: &str, seen: &mut Vec<u8>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if String::from_utf8_lossy(seen).contains(needle) {
            return true;
        }
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(50u16)).expect("poll") == 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(Errno::EIO) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => panic!("read pty master: {e}"),
        }
    }
    String::from_utf8_lossy(seen).contains(needle)
}
