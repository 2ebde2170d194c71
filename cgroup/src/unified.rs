//! linux.resources.unified: cgroup v2 files written as given, last, so they take precedence over
//! the converted fields (runtime-spec config-linux.md "Unified"; runtime-contract §3.6).

use std::collections::HashMap;
use std::path::Path;

use crate::error::CgroupError;
use crate::file;

/// A key must be one plain file name in the container's cgroup.
fn validate_key(key: &str) -> Result<(), CgroupError> {
    if key.is_empty() || key == "." || key == ".." || key.contains('/') || key.contains('\0') {
        return Err(CgroupError::InvalidResource {
            field: "unified",
            reason: format!("key {key:?} is not a file name in the cgroup directory"),
        });
    }
    Ok(())
}

/// The controller a key belongs to ("memory" for "memory.high"); None for core "cgroup.*" files.
pub(crate) fn controller_of(key: &str) -> Option<&str> {
    match key.split_once('.') {
        Some(("cgroup", _)) => None,
        Some((controller, _)) => Some(controller),
        None => Some(key),
    }
}

/// Every key valid; sorted so the writes happen in a stable order.
pub(crate) fn validated(
    unified: &HashMap<String, String>,
) -> Result<Vec<(&str, &str)>, CgroupError> {
    let mut entries: Vec<(&str, &str)> = unified
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (key, _) in &entries {
        validate_key(key)?;
    }
    entries.sort_unstable();
    Ok(entries)
}

pub(crate) fn apply(dir: &Path, unified: &HashMap<String, String>) -> Result<(), CgroupError> {
    for (key, value) in validated(unified)? {
        file::write_lines(dir, key, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_written_as_given() {
        let fx = Fixture::new(&["memory.high", "memory.oom.group", "cgroup.type"]);
        apply(
            fx.dir(),
            &map(&[("memory.high", "1073741824"), ("memory.oom.group", "1")]),
        )
        .unwrap();
        assert_eq!(fx.content("memory.high"), "1073741824");
        assert_eq!(fx.content("memory.oom.group"), "1");
    }

    #[test]
    fn multi_line_values_are_written_line_by_line() {
        let fx = Fixture::new(&["io.max"]);
        apply(fx.dir(), &map(&[("io.max", "8:0 rbps=1\n8:16 wiops=2\n")])).unwrap();
        // A plain file keeps both writes back to back, without the newlines.
        assert_eq!(fx.content("io.max"), "8:0 rbps=18:16 wiops=2");
        let err = apply(fx.dir(), &map(&[("io.weight", "a\nb")])).unwrap_err();
        assert_eq!(err.errno(), Some(nix::errno::Errno::ENOENT), "{err}");
    }

    #[test]
    fn key_validation() {
        for bad in ["", ".", "..", "../memory.max", "a/b", "/memory.max"] {
            let err = validated(&map(&[(bad, "1")])).unwrap_err();
            assert!(
                err.to_string().starts_with("cgroup: invalid unified: key"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn controller_of_key() {
        assert_eq!(controller_of("memory.oom.group"), Some("memory"));
        assert_eq!(controller_of("cgroup.freeze"), None);
        assert_eq!(controller_of("io.bfq.weight"), Some("io"));
    }
}
