//! The typed parent/child sync channel: a `SOCK_SEQPACKET` socketpair carrying one JSON
//! [`Message`] per packet, with an fd attached by `SCM_RIGHTS` where the message says so.
//!
//! Every `wait_for_*` accepts exactly one message kind: an error report from the other side is
//! returned as that error, anything else (or EOF) is a readable protocol error, never a hang.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use serde::{Deserialize, Serialize};

use crate::error::{Phase, SpawnError};

/// Largest packet: a [`SpawnError`] naming two paths fits with room to spare.
const MAX_MESSAGE: usize = 8192;

/// One packet on the channel (or on the start socket, for [`Message::Error`]).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Message {
    /// Parent -> child, when the child creates a user namespace or runs hooks itself: the
    /// uid/gid maps are written (if any) and this is the child's pid in the runtime's pid
    /// namespace, which the state JSON of createContainer/startContainer hooks names.
    Continue { host_pid: i32 },
    /// Child -> parent: mounts are in place, run the createRuntime/prestart hooks now.
    RuntimeHooksRequest,
    /// Parent -> child: the runtime hooks succeeded.
    RuntimeHooksDone,
    /// Parent -> child: /dev built by the runtime (`rootfs::devfs`), as a detached mount with its
    /// mount points; no fd when it could not be built (the child mounts /dev itself).
    Dev,
    /// Parent -> child: the nodes and links of that /dev are made; `complete: false` when making
    /// one failed in the runtime (a refused mknod): the child makes what is missing itself.
    DevPopulated { complete: bool },
    /// Parent -> child: the [`crate::ParentWork`] is done.
    ParentWorkDone,
    /// Child -> parent: carries the pty master (`Console::ToParent`).
    PtyMaster,
    /// Child -> parent: setup is complete, the init waits at the start gate.
    Ready,
    /// Child -> parent: seccomp is installed; carries the notify listener fd when there is one.
    SeccompInstalled,
    /// Either way: the sender failed and is exiting.
    Error(SpawnError),
}

impl Message {
    fn name(&self) -> &'static str {
        match self {
            Message::Continue { .. } => "continue",
            Message::RuntimeHooksRequest => "runtime-hooks-request",
            Message::RuntimeHooksDone => "runtime-hooks-done",
            Message::Dev => "dev",
            Message::DevPopulated { .. } => "dev-populated",
            Message::ParentWorkDone => "parent-work-done",
            Message::PtyMaster => "pty-master",
            Message::Ready => "ready",
            Message::SeccompInstalled => "seccomp-installed",
            Message::Error(_) => "error",
        }
    }
}

/// Why a wait did not get the message it expected.
#[derive(Debug)]
pub(crate) enum WaitError {
    /// The other side sent its own failure.
    Reported(SpawnError),
    /// The other side closed its end (it exited or exec'd) without a message.
    Closed,
    /// A read error, a message out of protocol order, or a failure on this side.
    Local(SpawnError),
}

impl WaitError {
    /// Flattens to one error, for the child (which just reports it and exits).
    pub(crate) fn into_spawn_error(self, waiting_for: &str) -> SpawnError {
        match self {
            WaitError::Reported(err) | WaitError::Local(err) => err,
            WaitError::Closed => SpawnError::with_detail(
                Phase::Setup,
                format!("wait for {waiting_for}"),
                "the runtime closed the sync channel",
            ),
        }
    }
}

/// One end of a seqpacket connection.
#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// cmsg buffer with the alignment `struct cmsghdr` needs (CMSG_* macros assume it).
#[repr(C, align(8))]
struct CmsgBuffer([u8; 64]);

/// The socketpair for a spawn: (parent end, child end), both close-on-exec.
pub(crate) fn pair() -> Result<(Channel, Channel), SpawnError> {
    let (parent, child) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| SpawnError::new(Phase::Clone, "socketpair for the sync channel", e))?;
    Ok((Channel { fd: parent }, Channel { fd: child }))
}

impl Channel {
    pub(crate) fn from_fd(fd: OwnedFd) -> Self {
        Channel { fd }
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sends one message, with `fd` attached by SCM_RIGHTS when given.
    pub(crate) fn send(&self, message: &Message, fd: Option<BorrowedFd<'_>>) -> Result<(), Errno> {
        let data = serde_json::to_vec(message).expect("channel messages always serialize");
        send_with_fd(self.fd.as_raw_fd(), &data, fd)
    }

    /// Sends a failure report; errors are ignored (the other side may be gone already).
    pub(crate) fn report(&self, err: SpawnError) {
        let _ = self.send(&Message::Error(err), None);
    }

    /// The other side's error report, if one is waiting (it failed and exited, so a write to it
    /// failed); never blocks.
    pub(crate) fn pending_report(&self) -> Option<WaitError> {
        loop {
            match self.receive(MsgFlags::MSG_DONTWAIT) {
                Ok((Message::Error(err), _)) => return Some(WaitError::Reported(err)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Receives one message and the fd it carries, if any. `Err(Closed)` on EOF.
    fn recv(&self) -> Result<(Message, Option<OwnedFd>), WaitError> {
        self.receive(MsgFlags::empty())
    }

    fn receive(&self, flags: MsgFlags) -> Result<(Message, Option<OwnedFd>), WaitError> {
        let mut buf = [0u8; MAX_MESSAGE];
        // ECONNRESET: the other side closed with messages of ours unread (it failed before
        // reading them, unix(7)). The error comes once, ahead of what it sent before closing:
        // its own error report, which the next read returns (or EOF).
        let (len, fd) = match self.recv_packet(&mut buf, flags) {
            Err(Errno::ECONNRESET) => self.recv_packet(&mut buf, flags),
            other => other,
        }
        .map_err(|e| WaitError::Local(SpawnError::setup("read the sync channel", e)))?
        .ok_or_else(|| {
            WaitError::Local(SpawnError::with_detail(
                Phase::Setup,
                "read the sync channel",
                "message too long",
            ))
        })?;
        if len == 0 {
            return Err(WaitError::Closed);
        }
        let message = serde_json::from_slice(&buf[..len]).map_err(|e| {
            WaitError::Local(SpawnError::with_detail(
                Phase::Setup,
                "read the sync channel",
                format!("malformed message: {e}"),
            ))
        })?;
        Ok((message, fd))
    }

    /// One recvmsg into `buf`: its length and the first fd it carried (any others are closed);
    /// `None` when the packet did not fit.
    fn recv_packet(
        &self,
        buf: &mut [u8],
        flags: MsgFlags,
    ) -> Result<Option<(usize, Option<OwnedFd>)>, Errno> {
        let mut cmsg = CmsgBuffer([0; 64]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = socket::recvmsg::<()>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg.0),
            MsgFlags::MSG_CMSG_CLOEXEC | flags,
        )?;
        let mut fd = None;
        for c in msg.cmsgs().into_iter().flatten() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // SAFETY: SCM_RIGHTS installed these fds in our table; we own them now.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    fd.get_or_insert(owned);
                }
            }
        }
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Ok(None);
        }
        Ok(Some((msg.bytes, fd)))
    }

    /// Receives exactly one message, which `take` accepts: what `take` returns of it, and the fd
    /// it carried. `want` names the kind for the error.
    fn expect_with<T>(
        &self,
        want: &str,
        take: impl FnOnce(&Message) -> Option<T>,
    ) -> Result<(T, Option<OwnedFd>), WaitError> {
        match self.recv()? {
            (Message::Error(err), _) => Err(WaitError::Reported(err)),
            (got, fd) => match take(&got) {
                Some(value) => Ok((value, fd)),
                None => Err(WaitError::Local(SpawnError::with_detail(
                    Phase::Setup,
                    "sync channel",
                    format!("expected {want}, got {}", got.name()),
                ))),
            },
        }
    }

    /// Receives exactly a message of `want`'s kind; returns the fd it carried.
    fn expect(&self, want: Message) -> Result<Option<OwnedFd>, WaitError> {
        let kind = std::mem::discriminant(&want);
        self.expect_with(want.name(), |got| {
            (std::mem::discriminant(got) == kind).then_some(())
        })
        .map(|((), fd)| fd)
    }

    /// Returns the child's host pid.
    pub(crate) fn wait_for_continue(&self) -> Result<i32, WaitError> {
        let take = |got: &Message| match got {
            Message::Continue { host_pid } => Some(*host_pid),
            _ => None,
        };
        self.expect_with("continue", take).map(|(pid, _)| pid)
    }

    pub(crate) fn wait_for_runtime_hooks_request(&self) -> Result<(), WaitError> {
        self.expect(Message::RuntimeHooksRequest).map(drop)
    }

    /// The runtime's /dev, or `None` when it could not build it.
    pub(crate) fn wait_for_dev(&self) -> Result<Option<OwnedFd>, WaitError> {
        self.expect(Message::Dev)
    }

    /// Whether the runtime made every node and link of its /dev.
    pub(crate) fn wait_for_dev_populated(&self) -> Result<bool, WaitError> {
        let take = |got: &Message| match got {
            Message::DevPopulated { complete } => Some(*complete),
            _ => None,
        };
        self.expect_with("dev-populated", take)
            .map(|(complete, _)| complete)
    }

    pub(crate) fn wait_for_parent_work(&self) -> Result<(), WaitError> {
        self.expect(Message::ParentWorkDone).map(drop)
    }

    pub(crate) fn wait_for_runtime_hooks_done(&self) -> Result<(), WaitError> {
        self.expect(Message::RuntimeHooksDone).map(drop)
    }

    pub(crate) fn wait_for_pty_master(&self) -> Result<OwnedFd, WaitError> {
        self.expect(Message::PtyMaster)?.ok_or_else(|| {
            WaitError::Local(SpawnError::with_detail(
                Phase::Setup,
                "receive the pty master",
                "no fd attached",
            ))
        })
    }

    pub(crate) fn wait_for_ready(&self) -> Result<(), WaitError> {
        self.expect(Message::Ready).map(drop)
    }

    pub(crate) fn wait_for_seccomp(&self) -> Result<Option<OwnedFd>, WaitError> {
        self.expect(Message::SeccompInstalled)
    }
}

/// The parent's end, kept in [`crate::Spawned`] with `StartGate::Immediate`.
#[derive(Debug)]
pub(crate) struct ParentChannel(pub(crate) Channel);

impl ParentChannel {
    /// EOF means the init exec'd (its end was close-on-exec); a message is its exec failure.
    pub(crate) fn wait_exec(self) -> Result<(), SpawnError> {
        wait_exec_result(&self.0).map(drop)
    }
}

/// Waits for EOF (the other side exec'd: its end was close-on-exec) or its failure. A seccomp
/// listener installed on the way (after the start gate) is returned.
pub(crate) fn wait_exec_result(channel: &Channel) -> Result<Option<OwnedFd>, SpawnError> {
    let mut listener = None;
    loop {
        match channel.recv() {
            Err(WaitError::Closed) => return Ok(listener),
            Ok((Message::SeccompInstalled, fd)) if listener.is_none() => listener = fd,
            Ok((Message::Error(err), _)) => return Err(err),
            Ok((other, _)) => {
                return Err(SpawnError::with_detail(
                    Phase::Exec,
                    "wait for exec",
                    format!("unexpected message {}", other.name()),
                ))
            }
            Err(WaitError::Reported(err) | WaitError::Local(err)) => return Err(err),
        }
    }
}

fn send_with_fd(sock: RawFd, data: &[u8], fd: Option<BorrowedFd<'_>>) -> Result<(), Errno> {
    let iov = [IoSlice::new(data)];
    let fds;
    let cmsgs: &[ControlMessage] = match fd {
        Some(fd) => {
            fds = [fd.as_raw_fd()];
            &[ControlMessage::ScmRights(&fds)]
        }
        None => &[],
    };
    socket::sendmsg::<()>(sock, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None).map(drop)
}

/// runc's console-socket protocol (runtime-contract §1.5.6): ONE sendmsg whose data is the
/// master's name and whose SCM_RIGHTS carries exactly the master.
pub(crate) fn send_console_master(
    socket: BorrowedFd<'_>,
    master: BorrowedFd<'_>,
) -> Result<(), Errno> {
    send_with_fd(socket.as_raw_fd(), b"/dev/ptmx", Some(master))
}

/// `start`: connect to the init's start socket, release it with one byte and read the result:
/// EOF when it exec'd (the accepted connection is close-on-exec), else its [`SpawnError`]. With
/// noNewPrivileges the seccomp step runs after the gate: its notify listener comes back here.
pub(crate) fn release(start_socket: &Path) -> Result<Option<OwnedFd>, SpawnError> {
    let step = || format!("connect to {}", start_socket.display());
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| SpawnError::setup(step(), e))?;
    let addr = UnixAddr::new(start_socket).map_err(|e| SpawnError::setup(step(), e))?;
    socket::connect(fd.as_raw_fd(), &addr).map_err(|e| SpawnError::setup(step(), e))?;
    socket::send(fd.as_raw_fd(), b"s", MsgFlags::MSG_NOSIGNAL)
        .map_err(|e| SpawnError::setup(format!("release {}", start_socket.display()), e))?;
    wait_exec_result(&Channel::from_fd(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_wait_accepts_only_its_message_kind() {
        let (parent, child) = pair().unwrap();
        child.send(&Message::Ready, None).unwrap();
        match parent.wait_for_continue() {
            Err(WaitError::Local(err)) => {
                assert_eq!(
                    err.to_string(),
                    "sync channel: expected continue, got ready"
                )
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_reported_error_is_returned_as_is() {
        let (parent, child) = pair().unwrap();
        let sent = SpawnError::setup("mount proc on /proc", Errno::EPERM);
        child.report(sent.clone());
        match parent.wait_for_ready() {
            Err(WaitError::Reported(err)) => assert_eq!(err, sent),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_report_sent_before_closing_with_our_messages_unread_is_returned() {
        // The child failed before reading the parent's last message: closing its end then resets
        // the connection (ECONNRESET on the parent's next read), ahead of the child's report.
        let (parent, child) = pair().unwrap();
        parent.send(&Message::ParentWorkDone, None).unwrap();
        let sent = SpawnError::setup("exec \"/bin/nosuch\"", Errno::ENOENT);
        child.report(sent.clone());
        drop(child);
        match parent.wait_for_ready() {
            Err(WaitError::Reported(err)) => assert_eq!(err, sent),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(parent.wait_for_ready(), Err(WaitError::Closed)));
    }

    #[test]
    fn eof_is_closed_not_a_hang() {
        let (parent, child) = pair().unwrap();
        drop(child);
        assert!(matches!(parent.wait_for_ready(), Err(WaitError::Closed)));
        let flat = WaitError::Closed.into_spawn_error("uid/gid mappings");
        assert_eq!(
            flat.to_string(),
            "wait for uid/gid mappings: the runtime closed the sync channel"
        );
    }

    #[test]
    fn an_fd_travels_with_its_message() {
        let (parent, child) = pair().unwrap();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        child
            .send(&Message::PtyMaster, Some(write_end.as_fd()))
            .unwrap();
        let received = parent.wait_for_pty_master().unwrap();
        nix::unistd::write(&received, b"x").unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(nix::unistd::read(&read_end, &mut buf).unwrap(), 1);
        // Received fds are close-on-exec (MSG_CMSG_CLOEXEC).
        let flags = nix::fcntl::fcntl(&received, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }
}
