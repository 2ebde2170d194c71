//! rdma controller: linux.resources.rdma -> one rdma.max line per device (runc fs2/rdma.go).

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::error::CgroupError;
use crate::file;

pub(crate) const WHAT: &str = "rdma limit";

pub(crate) fn apply(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<(), CgroupError> {
    let mut devices: Vec<_> = rdma.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    for (device, limit) in devices {
        let mut line = device.clone();
        if let Some(n) = limit.hca_handles() {
            line.push_str(&format!(" hca_handle={n}"));
        }
        if let Some(n) = limit.hca_objects() {
            line.push_str(&format!(" hca_object={n}"));
        }
        file::write(dir, "rdma.max", &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::LinuxRdmaBuilder;

    #[test]
    fn one_line_per_device() {
        let fx = Fixture::new(&["rdma.max"]);
        let limit = LinuxRdmaBuilder::default()
            .hca_handles(2u32)
            .hca_objects(100u32)
            .build()
            .unwrap();
        apply(fx.dir(), &HashMap::from([("mlx5_0".to_owned(), limit)])).unwrap();
        assert_eq!(fx.content("rdma.max"), "mlx5_0 hca_handle=2 hca_object=100");
    }
}
