//! cpuset controller: linux.resources.cpu.cpus/mems -> cpuset.cpus / cpuset.mems.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::error::CgroupError;
use crate::file;

pub(crate) fn requested(cpu: &LinuxCpu) -> Option<&'static str> {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if set(cpu.cpus()) {
        Some("cpuset cpus")
    } else if set(cpu.mems()) {
        Some("cpuset mems")
    } else {
        None
    }
}

pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    for (name, value) in [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            file::write(dir, name, value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn cpus_and_mems() {
        let fx = Fixture::new(&["cpuset.cpus", "cpuset.mems"]);
        apply(
            fx.dir(),
            &LinuxCpuBuilder::default()
                .cpus("0-1,3")
                .mems("0")
                .build()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(fx.content("cpuset.cpus"), "0-1,3");
        assert_eq!(fx.content("cpuset.mems"), "0");
        let fx = Fixture::new(&["cpuset.cpus", "cpuset.mems"]);
        apply(
            fx.dir(),
            &LinuxCpuBuilder::default().cpus("").build().unwrap(),
        )
        .unwrap();
        assert_eq!(fx.content("cpuset.cpus"), "");
    }
}
