//! Writing a plan's policy values into a container's cgroup, after the resources.

use nix::errno::Errno;

use super::plan::QosPlan;
use crate::error::CgroupError;
use crate::file;
use crate::manager::Cgroup;

impl Cgroup {
    /// Writes the plan's policy values (the files the spec's resources and unified map leave open),
    /// after `create` or `update` applied the resources. A file that does not exist means its
    /// controller (memory, cpu) is not enabled here: QoS is best-effort protection, so that write is
    /// skipped, never an error. In a cgroup `create` just made, values equal to the kernel's
    /// defaults are not written (a BestEffort container costs no write at all).
    pub fn apply_qos(&self, plan: &QosPlan) -> Result<(), CgroupError> {
        let fresh = self.is_fresh();
        for entry in plan.policy_writes() {
            if fresh && is_kernel_default(entry.file, &entry.value) {
                continue;
            }
            match file::write(self.dir(), entry.file, &entry.value) {
                Err(e) if e.errno() == Some(Errno::ENOENT) => {}
                result => result?,
            }
        }
        Ok(())
    }
}

/// A new cgroup's values (cgroup-v2.rst): memory.min 0, memory.high max, cpu.weight 100.
fn is_kernel_default(file: &str, value: &str) -> bool {
    matches!(
        (file, value),
        ("memory.min", "0") | ("memory.high", "max") | ("cpu.weight", "100")
    )
}

#[cfg(test)]
mod tests {
    use crate::qos::{classify, plan::plan_with_page_size, Policy};
    use crate::testutil::Fixture;
    use crate::{Cgroup, Hierarchy};
    use oci_spec::runtime::{LinuxBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder, SpecBuilder};
    use std::collections::HashMap;
    use std::path::Path;

    #[test]
    fn writes_policy_values_only_and_skips_missing_controllers() {
        let memory = LinuxMemoryBuilder::default()
            .limit(1i64 << 30)
            .reservation(1i64 << 28);
        let resources = LinuxResourcesBuilder::default()
            .memory(memory.build().unwrap())
            .unified(HashMap::from([(
                "memory.high".to_owned(),
                "max".to_owned(),
            )]))
            .build()
            .unwrap();
        let linux = LinuxBuilder::default()
            .resources(resources)
            .build()
            .unwrap();
        let spec = SpecBuilder::default().linux(linux).build().unwrap();
        let c = classify(&spec).unwrap();
        let plan = plan_with_page_size(&c, &spec, &Policy::default(), 4096);

        // memory only: no cpu.weight file, as on a host without the cpu controller.
        let fx = Fixture::new(&["ctr/memory.min", "ctr/memory.high", "ctr/memory.max"]);
        let cg = Cgroup::open(&Hierarchy::at(fx.dir()), Path::new("/ctr"));
        cg.apply_qos(&plan).unwrap();
        assert_eq!(fx.content("ctr/memory.min"), "268435456");
        assert_eq!(
            fx.content("ctr/memory.high"),
            "",
            "unified's, left to the resources"
        );
        assert_eq!(
            fx.content("ctr/memory.max"),
            "",
            "the spec's, left to the resources"
        );
        assert!(!fx.dir().join("ctr/cpu.weight").exists());

        fx.set("ctr/cpu.weight", "");
        cg.apply_qos(&plan).unwrap();
        assert_eq!(fx.content("ctr/cpu.weight"), "512");

        // Any other failure is reported.
        std::fs::remove_file(fx.dir().join("ctr/memory.min")).unwrap();
        fx.set("ctr/memory.min/oops", "");
        let err = cg.apply_qos(&plan).unwrap_err();
        assert_eq!(err.errno(), Some(nix::errno::Errno::EISDIR), "{err}");
    }

    #[test]
    fn a_fresh_cgroup_gets_no_write_of_a_kernel_default() {
        // BestEffort: memory.min 0, memory.high max, cpu.weight 100, all the kernel's defaults.
        let spec = SpecBuilder::default().build().unwrap();
        let c = classify(&spec).unwrap();
        let plan = plan_with_page_size(&c, &spec, &Policy::default(), 4096);
        assert_eq!(plan.policy_writes().count(), 3);
        let fx = Fixture::new(&["cgroup.controllers"]);
        let h = Hierarchy::at(fx.dir());
        let cg = Cgroup::create(&h, Path::new("/ctr"), None).unwrap();
        // Would fail with EISDIR if written.
        for f in ["memory.min", "memory.high", "cpu.weight"] {
            fx.set(&format!("ctr/{f}/x"), "");
        }
        cg.apply_qos(&plan).unwrap();
        // The same cgroup opened (an update): every value is written.
        let err = Cgroup::open(&h, Path::new("/ctr"))
            .apply_qos(&plan)
            .unwrap_err();
        assert_eq!(err.errno(), Some(nix::errno::Errno::EISDIR), "{err}");
    }
}
