//! hugetlb controller: hugepageLimits -> `hugetlb.<size>.max` and `hugetlb.<size>.rsvd.max` (runc
//! fs2/hugetlb.go; the rsvd files exist since Linux 5.7, their absence is tolerated).

use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::LinuxHugepageLimit;

use crate::error::CgroupError;
use crate::file;

pub(crate) const WHAT: &str = "hugepage limit";

pub(crate) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<(), CgroupError> {
    let mut rsvd_exists = true;
    for limit in limits {
        let size = limit.page_size();
        if size.is_empty() || size.contains('/') || size.contains('.') {
            return Err(CgroupError::InvalidResource {
                field: "hugepageLimits.pageSize",
                reason: format!("{size:?} is not a page size like 2MB"),
            });
        }
        let value = match limit.limit() {
            l if l < 0 => "max".to_owned(),
            l => l.to_string(),
        };
        file::write(dir, &format!("hugetlb.{size}.max"), &value)?;
        if rsvd_exists {
            match file::write(dir, &format!("hugetlb.{size}.rsvd.max"), &value) {
                Err(e) if e.errno() == Some(Errno::ENOENT) => rsvd_exists = false,
                result => result?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::LinuxHugepageLimitBuilder;

    fn limit(size: &str, l: i64) -> LinuxHugepageLimit {
        LinuxHugepageLimitBuilder::default()
            .page_size(size)
            .limit(l)
            .build()
            .unwrap()
    }

    #[test]
    fn max_and_rsvd() {
        let fx = Fixture::new(&[
            "hugetlb.2MB.max",
            "hugetlb.2MB.rsvd.max",
            "hugetlb.1GB.max",
            "hugetlb.1GB.rsvd.max",
        ]);
        apply(fx.dir(), &[limit("2MB", 4194304), limit("1GB", -1)]).unwrap();
        assert_eq!(fx.content("hugetlb.2MB.max"), "4194304");
        assert_eq!(fx.content("hugetlb.2MB.rsvd.max"), "4194304");
        assert_eq!(fx.content("hugetlb.1GB.rsvd.max"), "max");
    }

    #[test]
    fn missing_rsvd_is_tolerated_missing_max_is_not() {
        let fx = Fixture::new(&["hugetlb.2MB.max"]);
        apply(fx.dir(), &[limit("2MB", 1)]).unwrap();
        assert_eq!(fx.content("hugetlb.2MB.max"), "1");
        let err = apply(fx.dir(), &[limit("64KB", 1)]).unwrap_err();
        assert!(err.to_string().contains("hugetlb.64KB.max"), "{err}");
        assert!(apply(fx.dir(), &[limit("../x", 1)]).is_err());
    }
}
