//! Where the cgroup2 hierarchy is mounted, and which controllers its root offers.

use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use crate::error::CgroupError;
use crate::file;

/// A cgroup2 mount point. Every path husk touches is below it, so tests pass a tempdir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    root: PathBuf,
}

const UNIFIED: &str = "/sys/fs/cgroup";
const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

impl Hierarchy {
    /// The cgroup2 mount: /sys/fs/cgroup when it is cgroup2 (statfs CGROUP2_SUPER_MAGIC), else the
    /// hybrid layout's /sys/fs/cgroup/unified; an error otherwise. Never a v1 hierarchy.
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        [UNIFIED, HYBRID_UNIFIED]
            .into_iter()
            .find(|path| statfs(*path).is_ok_and(|fs| fs.filesystem_type() == CGROUP2_SUPER_MAGIC))
            .map(Hierarchy::at)
            .ok_or(CgroupError::NoCgroup2)
    }

    pub fn at(root: impl Into<PathBuf>) -> Hierarchy {
        Hierarchy { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The controllers the root offers (its cgroup.controllers).
    pub(crate) fn controllers(&self) -> Result<Controllers, CgroupError> {
        file::read(&self.root, "cgroup.controllers").map(Controllers)
    }
}

/// The content of a cgroup.controllers or cgroup.subtree_control file: space-separated names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Controllers(pub(crate) String);

impl Controllers {
    pub(crate) fn contains(&self, controller: &str) -> bool {
        self.0.split_whitespace().any(|c| c == controller)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.split_whitespace()
    }
}
