//! `linux.seccomp`: compiled in the parent (husk-seccomp), installed by the init as its last step
//! before execve. With SCMP_ACT_NOTIFY the listener fd comes back from the init and goes to the
//! agent at `listenerPath` (config-linux.md "The Container Process State"): one connection, one
//! message carrying the state JSON and the fd (SCM_RIGHTS).
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{anyhow, Context as _, Result};
use husk_oci::State;
use husk_seccomp::Filter;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde::Serialize;

pub struct Seccomp<'a> {
    filter: Filter,
    /// listenerPath and listenerMetadata, when the filter has SCMP_ACT_NOTIFY rules.
    agent: Option<(&'a Path, &'a str)>,
}

impl<'a> Seccomp<'a> {
    /// The compiled `linux.seccomp` of `spec`, if it has one.
    pub fn of_spec(spec: &'a Spec) -> Result<Option<Seccomp<'a>>> {
        let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        profile.map(Seccomp::compile).transpose()
    }

    pub fn compile(profile: &'a LinuxSeccomp) -> Result<Seccomp<'a>> {
        let filter = husk_seccomp::compile(profile).context("linux.seccomp")?;
        let agent = if filter.has_listener() {
            let path = profile
                .listener_path()
                .as_deref()
                .context("linux.seccomp.listenerPath: required by SCMP_ACT_NOTIFY")?;
            Some((
                path,
                profile.listener_metadata().as_deref().unwrap_or_default(),
            ))
        } else {
            None
        };
        Ok(Seccomp { filter, agent })
    }

    /// The init's seccomp step (husk_spawn::SeccompStep).
    pub fn install(&self) -> Result<Option<OwnedFd>, String> {
        self.filter
            .install()
            .map_err(|err| format!("seccomp: {err}"))
    }

    /// Whether the init must hand its listener fd back.
    pub fn wants_listener(&self) -> bool {
        self.agent.is_some()
    }

    /// Gives the listener to the agent; `state` names the init's pid.
    pub fn send_listener(&self, listener: &OwnedFd, state: &State) -> Result<()> {
        match self.agent {
            Some((path, metadata)) => send_listener(path, listener, metadata, state),
            None => Ok(()),
        }
    }
}

/// The "container process state" document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProcessState<'a> {
    oci_version: &'a str,
    /// Names of the fds in the message's SCM_RIGHTS, in order.
    fds: [&'static str; 1],
    pid: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    metadata: &'a str,
    state: &'a State,
}

pub fn send_listener(
    listener_path: &Path,
    listener: &OwnedFd,
    metadata: &str,
    state: &State,
) -> Result<()> {
    let json = serde_json::to_vec(&ProcessState {
        oci_version: &state.oci_version,
        fds: ["seccompFd"],
        pid: state.pid,
        metadata,
        state,
    })?;
    let failed = |what: &str, errno: nix::errno::Errno| {
        anyhow!(
            "{what} seccomp listener {}: {}",
            listener_path.display(),
            husk_spawn::error::errno_text(errno)
        )
    };
    let sock =
        crate::unix_socket::connect_stream(listener_path).map_err(|e| failed("connect", e))?;
    let fds = [listener.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&json)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| failed("send to", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use husk_oci::ContainerStatus;
    use nix::sys::socket::{
        accept, recvmsg, socket, AddressFamily, ControlMessageOwned, SockFlag, SockType, UnixAddr,
    };
    use std::io::IoSliceMut;
    use std::os::fd::AsFd;

    #[test]
    fn sends_the_state_and_the_fd_in_one_message() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("agent.sock");
        let server = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        nix::sys::socket::bind(server.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        nix::sys::socket::listen(&server, nix::sys::socket::Backlog::new(1).unwrap()).unwrap();

        let (reader, _writer) = nix::unistd::pipe().unwrap();
        let state = State {
            oci_version: "1.2.1".into(),
            id: "c1".into(),
            pid: 42,
            status: ContainerStatus::Creating,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-12-04T15:15:01Z".into(),
            annotations: Default::default(),
            owner: String::new(),
        };
        send_listener(&path, &reader, "MKNOD=/dev/null", &state).unwrap();

        let conn = accept(&server).unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .unwrap();
        let fds: Vec<_> = msg
            .cmsgs()
            .unwrap()
            .filter_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => Some(fds),
                _ => None,
            })
            .flatten()
            .collect();
        let len = msg.bytes;
        assert_eq!(fds.len(), 1);
        let doc: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
        assert_eq!(doc["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(doc["pid"], 42);
        assert_eq!(doc["metadata"], "MKNOD=/dev/null");
        assert_eq!(doc["state"]["status"], "creating");
        assert!(reader.as_fd().try_clone_to_owned().is_ok());
        nix::unistd::close(fds[0]).unwrap();
    }
}
