//! The receiving end of runc's fd-passing sockets (`--console-socket`, a seccomp agent's
//! listenerPath): one connection, one message with SCM_RIGHTS.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// Accepts one connection on `listener` and receives one message: its data and the fds it carried.
pub fn accept_message(listener: &UnixListener) -> (Vec<u8>, Vec<OwnedFd>) {
    let (stream, _) = listener.accept().expect("accept the runtime's connection");
    let mut data = vec![0u8; 8192];
    let mut cmsg_space = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(&mut data)];
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg_space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let len = msg.bytes;
    let mut fds = Vec::new();
    for cmsg in msg.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: SCM_RIGHTS installed these fds in this process just now; nothing else owns them.
            fds.extend(
                received
                    .into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    data.truncate(len);
    (data, fds)
}
