//! `run` with `process.terminal` and no console socket: husk owns the container's pty master and
//! proxies it to its own stdio, like runc's "foreground new terminal" mode (runc tty.go).
use std::io::{stdin, stdout};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use anyhow::{Context as _, Result};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

nix::ioctl_read_bad!(get_window_size, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(set_window_size, libc::TIOCSWINSZ, libc::winsize);

pub struct TtyProxy {
    master: OwnedFd,
    /// husk's own terminal settings, restored on drop, when stdin is a terminal.
    saved_termios: Option<Termios>,
    stdin_open: bool,
    master_open: bool,
}

/// What one read-and-forward step saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Data,
    /// End of file, or EIO from a master whose slave side has no more holders.
    Closed,
}

impl TtyProxy {
    /// Puts husk's terminal (if stdin is one) in raw mode and copies its size to the container's.
    pub fn new(master: OwnedFd) -> Result<TtyProxy> {
        let saved_termios = match tcgetattr(stdin().as_fd()) {
            Ok(saved) => {
                let mut raw = saved.clone();
                cfmakeraw(&mut raw);
                tcsetattr(stdin().as_fd(), SetArg::TCSANOW, &raw).context("raw mode on stdin")?;
                Some(saved)
            }
            Err(_) => None,
        };
        let proxy = TtyProxy {
            master,
            saved_termios,
            stdin_open: true,
            master_open: true,
        };
        proxy.resize();
        Ok(proxy)
    }

    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    pub fn stdin_open(&self) -> bool {
        self.stdin_open
    }

    pub fn master_open(&self) -> bool {
        self.master_open
    }

    /// SIGWINCH: the container's terminal takes the size of husk's.
    pub fn resize(&self) {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer, which points to one.
        if unsafe { get_window_size(stdin().as_raw_fd(), &mut size) }.is_err() {
            return; // stdin is not a terminal: keep the size the container set up.
        }
        // SAFETY: TIOCSWINSZ reads one `struct winsize` from the pointer, which points to one.
        let _ = unsafe { set_window_size(self.master.as_raw_fd(), &size) };
    }

    /// stdin -> master.
    pub fn pump_stdin(&mut self) -> Result<Flow> {
        let flow = copy(stdin().as_fd(), self.master.as_fd())?;
        if flow == Flow::Closed {
            self.stdin_open = false;
        }
        Ok(flow)
    }

    /// master -> stdout.
    pub fn pump_master(&mut self) -> Result<Flow> {
        let flow = copy(self.master.as_fd(), stdout().as_fd())?;
        if flow == Flow::Closed {
            self.master_open = false;
        }
        Ok(flow)
    }

    /// After the init exited: forward what is still buffered in the master without blocking.
    pub fn drain(&mut self) -> Result<()> {
        fcntl(self.master.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .context("O_NONBLOCK on the pty")?;
        while self.master_open {
            match self.pump_master() {
                Ok(Flow::Data) => {}
                Ok(Flow::Closed) => break,
                Err(err) if err.downcast_ref::<Errno>() == Some(&Errno::EAGAIN) => break,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

impl Drop for TtyProxy {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved_termios {
            let _ = tcsetattr(stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// One read from `from`, written fully to `to`.
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<Flow> {
    let mut buf = [0u8; 8192];
    let n = match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(Errno::EIO) => return Ok(Flow::Closed),
        Ok(n) => n,
        Err(Errno::EINTR) => return Ok(Flow::Data),
        Err(errno) => return Err(errno.into()),
    };
    let mut rest = &buf[..n];
    while !rest.is_empty() {
        match nix::unistd::write(to, rest) {
            Ok(written) => rest = &rest[written..],
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(Flow::Data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::pty::openpty;

    #[test]
    fn copies_until_the_slave_side_is_gone() {
        let pty = openpty(None, None).unwrap();
        nix::unistd::write(pty.slave.as_fd(), b"hello").unwrap();
        let (reader, writer) = nix::unistd::pipe().unwrap();
        assert_eq!(
            copy(pty.master.as_fd(), writer.as_fd()).unwrap(),
            Flow::Data
        );
        let mut buf = [0u8; 16];
        let n = nix::unistd::read(reader.as_fd(), &mut buf).unwrap();
        // The line discipline may turn "\n" into "\r\n"; "hello" has none.
        assert_eq!(&buf[..n], b"hello");
        drop(pty.slave);
        assert_eq!(
            copy(pty.master.as_fd(), writer.as_fd()).unwrap(),
            Flow::Closed
        );
    }
}
