//! The namespace plan from `linux.namespaces`: which namespaces the first clone creates, which are
//! joined by path (pid by the parent before the clone, the rest by the child) and the new time
//! namespace's offsets.

use std::fs::File;
use std::io::Write;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{self, OFlag};
use nix::sched::{self, CloneFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Phase, SpawnError};

/// The number of namespace types: `linux.namespaces` has at most one entry per type.
const MAX_NAMESPACES: usize = 8;

/// A namespace joined by path.
#[derive(Clone, Copy)]
pub(crate) struct Join<'a> {
    pub typ: LinuxNamespaceType,
    pub path: &'a Path,
}

/// What `linux.namespaces` asks for.
pub(crate) struct NamespacePlan<'a> {
    /// CLONE_NEW* flags of the entries without a path.
    new: CloneFlags,
    /// Entries with a path, in spec order (the user namespace is joined first regardless).
    joins: [Option<Join<'a>>; MAX_NAMESPACES],
}

impl<'a> NamespacePlan<'a> {
    pub(crate) fn from_spec(spec: &'a Spec) -> Self {
        let mut plan = NamespacePlan {
            new: CloneFlags::empty(),
            joins: [None; MAX_NAMESPACES],
        };
        let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        // Duplicates are rejected by husk-oci's validation, so there are at most 8 entries.
        for (slot, ns) in namespaces
            .into_iter()
            .flatten()
            .enumerate()
            .take(MAX_NAMESPACES)
        {
            // An empty path means a new namespace, as runc reads it.
            match ns.path().as_ref().filter(|p| !p.as_os_str().is_empty()) {
                Some(path) => {
                    plan.joins[slot] = Some(Join {
                        typ: ns.typ(),
                        path,
                    })
                }
                None => plan.new |= flag(ns.typ()),
            }
        }
        plan
    }

    fn joined(&self, typ: LinuxNamespaceType) -> Option<Join<'a>> {
        self.joins.iter().flatten().find(|j| j.typ == typ).copied()
    }

    pub(crate) fn creates(&self, typ: LinuxNamespaceType) -> bool {
        self.new.contains(flag(typ))
    }

    /// Whether the spec lists the namespace at all (new or by path).
    pub(crate) fn has(&self, typ: LinuxNamespaceType) -> bool {
        self.creates(typ) || self.joined(typ).is_some()
    }

    /// Whether the init ends up in a user namespace other than the runtime's.
    pub(crate) fn has_user_namespace(&self) -> bool {
        self.has(LinuxNamespaceType::User)
    }

    /// The flags for clone3. A new time namespace is unshared by the child instead: its offsets
    /// must be written before any process is in it, and the child enters it at execve
    /// (time_namespaces(7)). With a user namespace joined by path, the other new namespaces must
    /// be owned by THAT user namespace, so the child unshares them after joining it; only a new
    /// pid namespace still needs the clone.
    pub(crate) fn clone_flags(&self) -> u64 {
        let flags = if self.joined(LinuxNamespaceType::User).is_some() {
            self.new & CloneFlags::CLONE_NEWPID
        } else {
            self.new - time_flag()
        };
        flags.bits() as u64
    }

    /// The new namespaces the child unshares itself (see [`NamespacePlan::clone_flags`]).
    fn unshared_by_child(&self) -> CloneFlags {
        match self.joined(LinuxNamespaceType::User) {
            Some(_) => self.new - CloneFlags::CLONE_NEWPID,
            None => self.new & time_flag(),
        }
    }

    /// In the parent, right before clone3: join the pid namespace given by path. setns(2) of a
    /// pid namespace only affects children, which saves the second fork other runtimes need.
    /// Returns what [`ParentNamespaces::restore`] needs to put the parent back.
    pub(crate) fn enter_for_children(&self) -> Result<ParentNamespaces, SpawnError> {
        let Some(join) = self.joined(LinuxNamespaceType::Pid) else {
            return Ok(ParentNamespaces { pid: None });
        };
        let own = open_ns("/proc/thread-self/ns/pid")?;
        set_ns(join, Phase::Clone)?;
        Ok(ParentNamespaces { pid: Some(own) })
    }

    /// In the child: join the namespaces given by path, the user namespace first (joining it
    /// grants the capabilities the other setns calls need in it), then unshare what the clone
    /// could not create, writing a new time namespace's offsets while it is still empty.
    pub(crate) fn join_in_child(&self, spec: &Spec) -> Result<(), SpawnError> {
        if let Some(user) = self.joined(LinuxNamespaceType::User) {
            set_ns(user, Phase::Setup)?;
        }
        for join in self.joins.iter().flatten() {
            if !matches!(join.typ, LinuxNamespaceType::User | LinuxNamespaceType::Pid) {
                set_ns(*join, Phase::Setup)?;
            }
        }
        let unshared = self.unshared_by_child();
        if !unshared.is_empty() {
            sched::unshare(unshared).map_err(|e| SpawnError::setup("unshare namespaces", e))?;
        }
        if unshared.contains(time_flag()) {
            write_time_offsets(spec)?;
        }
        Ok(())
    }
}

/// In the parent, right before clone3 of a process exec'd into a running container: its children
/// are born in the container init's pid namespace (setns(2) on a pidfd, Linux 5.8).
pub(crate) fn enter_pid_namespace_of(
    init_pidfd: BorrowedFd<'_>,
) -> Result<ParentNamespaces, SpawnError> {
    let own = open_ns("/proc/thread-self/ns/pid")?;
    sched::setns(init_pidfd, CloneFlags::CLONE_NEWPID).map_err(|e| {
        SpawnError::new(
            Phase::Clone,
            "setns to the pid namespace of the container init",
            e,
        )
    })?;
    Ok(ParentNamespaces { pid: Some(own) })
}

/// The parent's own pid namespace, saved by [`NamespacePlan::enter_for_children`].
pub(crate) struct ParentNamespaces {
    pid: Option<OwnedFd>,
}

impl ParentNamespaces {
    /// After clone3, in the parent only: later children (hooks) run in the runtime's pid
    /// namespace again. Never called in the child.
    pub(crate) fn restore(self) -> Result<(), SpawnError> {
        match &self.pid {
            Some(fd) => sched::setns(fd, CloneFlags::CLONE_NEWPID).map_err(|e| {
                SpawnError::new(Phase::Clone, "setns back to the runtime pid namespace", e)
            }),
            None => Ok(()),
        }
    }
}

pub(crate) fn time_flag() -> CloneFlags {
    CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)
}

fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    // oci-spec's discriminants are the CLONE_NEW* values.
    CloneFlags::from_bits_retain(typ as libc::c_int)
}

fn open_ns(path: &str) -> Result<OwnedFd, SpawnError> {
    fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| SpawnError::new(Phase::Clone, format!("open {path}"), e))
}

fn set_ns(join: Join<'_>, phase: Phase) -> Result<(), SpawnError> {
    let step = || format!("setns {} {}", join.typ, join.path.display());
    let fd = fcntl::open(join.path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| SpawnError::new(phase, step(), e))?;
    sched::setns(&fd, flag(join.typ)).map_err(|e| SpawnError::new(phase, step(), e))
}

/// `linux.timeOffsets` into /proc/self/timens_offsets, one write (time_namespaces(7)).
fn write_time_offsets(spec: &Spec) -> Result<(), SpawnError> {
    let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, offset) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            offset.secs().unwrap_or(0),
            offset.nanosecs().unwrap_or(0)
        ));
    }
    let path = "/proc/self/timens_offsets";
    File::options()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| SpawnError::setup(format!("write {path}"), io_errno(&e)))
}

/// The errno of an io::Error (EIO when it has none).
pub(crate) fn io_errno(err: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}
