//! Hierarchical memory protection. cgroup v2 hands memory.min down from the root: a cgroup is
//! protected only up to what every ancestor is (cgroup-v2.rst "Memory Interface Files", memory.min:
//! "effective min boundary is limited by memory.min values of all ancestor cgroups"). So each
//! ancestor of a container, below the hierarchy root, is kept at the sum of its children's
//! memory.min, on the files husk manages: those husk wrote last (its record matches the file) or
//! that nobody set (0). A value someone else wrote (kubelet's MemoryQoS, an admin) is never touched,
//! so never lowered.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::error::QosError;
use super::record;
use crate::error::CgroupError;
use crate::file;
use crate::hierarchy::Hierarchy;
use crate::path::under_root;

/// A memory.min value as the kernel shows it: bytes, or "max".
pub(crate) fn parse_memory_min(dir: &Path, content: &str) -> Result<u64, CgroupError> {
    match content.trim() {
        "max" => Ok(u64::MAX),
        v => v.parse().map_err(|_| CgroupError::Parse {
            path: dir.join("memory.min"),
            content: content.to_owned(),
        }),
    }
}

/// memory.min at `dir`; None when the file is missing (no memory controller there, or the cgroup is
/// gone).
pub(crate) fn memory_min(dir: &Path) -> Result<Option<u64>, CgroupError> {
    file::read_optional(dir, "memory.min")?
        .map(|content| parse_memory_min(dir, &content))
        .transpose()
}

/// The sum of the memory.min of `dir`'s child cgroups (saturating: a "max" child makes it "max").
pub(crate) fn children_memory_min(dir: &Path) -> Result<u64, CgroupError> {
    let mut sum = 0u64;
    for child in crate::manager::child_dirs(dir)? {
        sum = sum.saturating_add(memory_min(&child)?.unwrap_or(0));
    }
    Ok(sum)
}

/// The ancestors of the cgroup at `rel`, below the root, top first (the cgroup itself excluded).
pub(crate) fn ancestors(h: &Hierarchy, rel: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let dir = under_root(h.root(), rel)?;
    let mut levels: Vec<PathBuf> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| *a != h.root())
        .map(Path::to_path_buf)
        .collect();
    levels.reverse();
    Ok(levels)
}

fn memory_min_value(v: u64) -> String {
    if v == u64::MAX {
        "max".to_owned()
    } else {
        v.to_string()
    }
}

/// Recomputes memory.min of every ancestor of the cgroup at `rel` (deepest first, so each level sums
/// its children's new values), under an exclusive flock on the top ancestor's directory: every
/// container below it reconciles the same files. Call after a container's cgroup is created with
/// memory protection (`QosPlan::memory_min() > 0`), after every QoS update, and after its cgroup is
/// destroyed. Levels without memory.min (no memory controller) are skipped.
pub fn reconcile_ancestors(h: &Hierarchy, rel: &Path) -> Result<(), QosError> {
    let levels = ancestors(h, rel)?;
    let Some(top) = levels.first() else {
        return Ok(());
    };
    let _lock = match lock(top)? {
        Some(lock) => lock,
        None => return Ok(()),
    };
    for level in levels.iter().rev() {
        reconcile_level(level)?;
    }
    Ok(())
}

/// flock(LOCK_EX) on the directory (no lock file can be made in cgroupfs); None when the directory
/// is gone (nothing to reconcile). Released when the returned value is dropped.
fn lock(dir: &Path) -> Result<Option<Flock<File>>, QosError> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir);
    let mut dir_file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(QosError::Lock {
                path: dir.to_owned(),
                errno: e.into(),
            })
        }
    };
    loop {
        match Flock::lock(dir_file, FlockArg::LockExclusive) {
            Ok(lock) => return Ok(Some(lock)),
            Err((f, Errno::EINTR)) => dir_file = f,
            Err((_, errno)) => {
                return Err(QosError::Lock {
                    path: dir.to_owned(),
                    errno: errno.into(),
                })
            }
        }
    }
}

fn reconcile_level(level: &Path) -> Result<(), QosError> {
    let Some(current) = memory_min(level)? else {
        return Ok(());
    };
    let recorded = record::read(level)?;
    let husks = match recorded {
        Some(r) => r == current,
        None => current == 0,
    };
    if !husks {
        return Ok(());
    }
    let sum = children_memory_min(level)?;
    if sum == 0 {
        if current != 0 {
            file::write(level, "memory.min", "0")?;
        }
        // Back to the kernel's default: nobody's value, no record to keep.
        return record::remove(level);
    }
    if sum == current {
        return Ok(());
    }
    // Record first: a failure between the two leaves a record that does not match the file, which
    // reads as someone else's value, and is left alone rather than overwritten.
    if !record::write(level, sum)? {
        return Ok(());
    }
    file::write(level, "memory.min", &memory_min_value(sum))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;

    /// kubepods/burstable/{pod1/{c1,c2},pod2/c3} with memory.min files (0) everywhere.
    fn tree() -> Fixture {
        let fx = Fixture::new(&[]);
        for dir in [
            "kubepods",
            "kubepods/burstable",
            "kubepods/burstable/pod1",
            "kubepods/burstable/pod1/c1",
            "kubepods/burstable/pod1/c2",
            "kubepods/burstable/pod2",
            "kubepods/burstable/pod2/c3",
        ] {
            fx.set(&format!("{dir}/memory.min"), "0\n");
        }
        fx
    }

    fn min(fx: &Fixture, dir: &str) -> String {
        fx.content(&format!("{dir}/memory.min")).trim().to_owned()
    }

    fn reconcile(fx: &Fixture, rel: &str) {
        reconcile_ancestors(&Hierarchy::at(fx.dir()), Path::new(rel)).unwrap();
    }

    #[test]
    fn ancestors_get_the_sum_of_their_children() {
        let fx = tree();
        fx.set("kubepods/burstable/pod1/c1/memory.min", "1000\n");
        fx.set("kubepods/burstable/pod1/c2/memory.min", "500\n");
        reconcile(&fx, "/kubepods/burstable/pod1/c1");
        assert_eq!(min(&fx, "kubepods/burstable/pod1"), "1500");
        assert_eq!(min(&fx, "kubepods/burstable"), "1500");
        assert_eq!(min(&fx, "kubepods"), "1500");
        assert_eq!(
            min(&fx, "kubepods/burstable/pod1/c1"),
            "1000",
            "the container is not touched"
        );
        let pod1 = fx.dir().join("kubepods/burstable/pod1");
        assert_eq!(record::read(&pod1).unwrap(), Some(1500));

        fx.set("kubepods/burstable/pod2/c3/memory.min", "200\n");
        reconcile(&fx, "kubepods/burstable/pod2/c3");
        assert_eq!(min(&fx, "kubepods/burstable/pod2"), "200");
        assert_eq!(min(&fx, "kubepods/burstable"), "1700");
        assert_eq!(min(&fx, "kubepods"), "1700");
    }

    #[test]
    fn a_removed_child_lowers_husks_own_value() {
        let fx = tree();
        fx.set("kubepods/burstable/pod1/c1/memory.min", "1000\n");
        fx.set("kubepods/burstable/pod1/c2/memory.min", "500\n");
        reconcile(&fx, "/kubepods/burstable/pod1/c1");
        std::fs::remove_dir_all(fx.dir().join("kubepods/burstable/pod1/c1")).unwrap();
        reconcile(&fx, "/kubepods/burstable/pod1/c1");
        assert_eq!(min(&fx, "kubepods/burstable/pod1"), "500");
        assert_eq!(min(&fx, "kubepods"), "500");
        std::fs::remove_dir_all(fx.dir().join("kubepods/burstable/pod1/c2")).unwrap();
        reconcile(&fx, "/kubepods/burstable/pod1/c2");
        assert_eq!(min(&fx, "kubepods/burstable/pod1"), "0");
        assert_eq!(min(&fx, "kubepods"), "0");
        let kubepods = fx.dir().join("kubepods");
        assert_eq!(record::read(&kubepods).unwrap(), None, "0 is nobody's");
    }

    #[test]
    fn a_foreign_value_is_never_touched() {
        let fx = tree();
        // kubelet's MemoryQoS wrote the burstable tier.
        fx.set("kubepods/burstable/memory.min", "300\n");
        fx.set("kubepods/burstable/pod1/c1/memory.min", "1000\n");
        reconcile(&fx, "/kubepods/burstable/pod1/c1");
        assert_eq!(min(&fx, "kubepods/burstable/pod1"), "1000");
        assert_eq!(min(&fx, "kubepods/burstable"), "300", "someone else's");
        // kubepods sums what its child has, whoever wrote it.
        assert_eq!(min(&fx, "kubepods"), "300");

        // Someone overwrites a value husk wrote: from then on it is theirs, even when lower.
        fx.set("kubepods/burstable/pod1/memory.min", "4096\n");
        fx.set("kubepods/burstable/pod1/c2/memory.min", "8000\n");
        reconcile(&fx, "/kubepods/burstable/pod1/c2");
        assert_eq!(min(&fx, "kubepods/burstable/pod1"), "4096");
        // Removing the child does not lower it either.
        std::fs::remove_dir_all(fx.dir().join("kubepods/burstable/pod1/c1")).unwrap();
        reconcile(&fx, "/kubepods/burstable/pod1/c1");
        assert_eq!(min(&fx, "kubepods/burstable/pod1"), "4096");
    }

    #[test]
    fn max_children_and_levels_without_memory_min() {
        let fx = tree();
        fx.set("kubepods/burstable/pod2/c3/memory.min", "max\n");
        // No memory controller in the middle level.
        std::fs::remove_file(fx.dir().join("kubepods/burstable/memory.min")).unwrap();
        reconcile(&fx, "/kubepods/burstable/pod2/c3");
        assert_eq!(min(&fx, "kubepods/burstable/pod2"), "max");
        assert!(!fx.dir().join("kubepods/burstable/memory.min").exists());
        assert_eq!(min(&fx, "kubepods"), "0", "a missing file counts as 0");
        fx.set("kubepods/burstable/pod1/c1/memory.min", "x\n");
        let err = reconcile_ancestors(
            &Hierarchy::at(fx.dir()),
            Path::new("/kubepods/burstable/pod1/c1"),
        )
        .unwrap_err();
        assert!(
            matches!(err, QosError::Cgroup(CgroupError::Parse { .. })),
            "{err}"
        );
    }

    #[test]
    fn nothing_to_do_at_the_top_or_when_gone() {
        let fx = tree();
        reconcile(&fx, "/kubepods");
        reconcile(&fx, "/gone/a/b");
        assert!(!fx.dir().join("gone").exists());
        assert_eq!(
            ancestors(&Hierarchy::at(fx.dir()), Path::new("/a/b/c")).unwrap(),
            vec![fx.dir().join("a"), fx.dir().join("a/b")]
        );
    }
}
