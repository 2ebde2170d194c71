//! cgroup v2 through cgroupfs: find the hierarchy, create a container's cgroup, apply OCI resources,
//! freeze, kill, remove, read stats. The cgroup root is always a parameter so every piece is tested
//! against plain files in a tempdir.
