//! pids controller: linux.resources.pids.limit -> pids.max (runtime-contract §3.5).

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::error::CgroupError;
use crate::file;

pub(crate) const WHAT: &str = "pids limit";

/// >0 -> N; 0 -> "1" (runc and youki, for parity with systemd's TasksMax=0); <0 -> "max".
fn pids_max(limit: i64) -> String {
    match limit {
        l if l > 0 => l.to_string(),
        0 => "1".to_owned(),
        _ => "max".to_owned(),
    }
}

pub(crate) fn apply(dir: &Path, pids: &LinuxPids) -> Result<(), CgroupError> {
    file::write(dir, "pids.max", &pids_max(pids.limit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::LinuxPidsBuilder;

    #[test]
    fn limit_values() {
        for (limit, want) in [(100, "100"), (1, "1"), (0, "1"), (-1, "max"), (-5, "max")] {
            let fx = Fixture::new(&["pids.max"]);
            apply(
                fx.dir(),
                &LinuxPidsBuilder::default().limit(limit).build().unwrap(),
            )
            .unwrap();
            assert_eq!(fx.content("pids.max"), want, "limit {limit}");
        }
    }
}
