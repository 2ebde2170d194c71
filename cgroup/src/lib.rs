//! cgroup v2 through cgroupfs: find the hierarchy, create a container's cgroup, apply OCI resources,
//! freeze, kill, remove, read stats. The cgroup root is always a parameter so every piece is tested
//! against plain files in a tempdir.

mod cpu;
mod cpuset;
mod devices;
mod error;
mod file;
mod hierarchy;
mod hugetlb;
mod io;
mod manager;
mod memory;
mod path;
mod pids;
pub mod qos;
mod rdma;
mod resources;
mod stats;
mod unified;

#[cfg(test)]
mod testutil;

pub use devices::{container_resources, device_rules};
pub use error::{CgroupError, SysError};
pub use hierarchy::Hierarchy;
pub use manager::Cgroup;
pub use path::container_path;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Psi, PsiData, Stats,
    Throttling,
};
