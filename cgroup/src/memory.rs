//! memory controller: limit -> memory.max, reservation -> memory.low, swap (OCI: memory+swap) ->
//! memory.swap.max = swap - limit, with runc's rules (runtime-contract §3.3, runc fs2/memory.go).

use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::LinuxMemory;

use crate::error::CgroupError;
use crate::file;

/// What the spec asks of the memory controller, for the "not available" error; None when nothing.
pub(crate) fn requested(memory: &LinuxMemory) -> Option<&'static str> {
    let set = |v: Option<i64>| v.is_some_and(|v| v != 0);
    if set(memory.limit()) {
        Some("memory limit")
    } else if set(memory.swap()) {
        Some("memory swap limit")
    } else if set(memory.reservation()) {
        Some("memory reservation")
    } else {
        None
    }
}

/// A value for a memory file: 0 means "unset" (nothing written), -1 "max".
fn memory_value(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".to_owned()),
        v => Some(v.to_string()),
    }
}

/// runc's ConvertMemorySwapToCgroupV2Value: OCI swap is memory+swap, cgroup v2 wants swap alone.
fn swap_max(swap: i64, limit: i64) -> Result<i64, CgroupError> {
    let invalid = |reason: String| CgroupError::InvalidResource {
        field: "memory.swap",
        reason,
    };
    if limit == -1 && swap == 0 {
        // Unlimited memory with swap unset means unlimited swap too (cgroup v1 compatibility).
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit == -1 {
        return Ok(swap);
    }
    if limit == 0 {
        return Err(invalid(
            "unable to set swap limit without memory limit".into(),
        ));
    }
    if limit < 0 {
        return Err(invalid(format!("invalid memory limit {limit}")));
    }
    if swap < limit {
        return Err(invalid(format!(
            "memory+swap limit {swap} should be >= memory limit {limit}"
        )));
    }
    Ok(swap - limit)
}

/// For update: a swap limit is relative to the memory limit; an update that sets swap but not the
/// limit uses the current memory.max (runc update.go merges with the running config). None when
/// nothing to merge.
pub(crate) fn with_current_limit(
    dir: &Path,
    memory: &LinuxMemory,
) -> Result<Option<LinuxMemory>, CgroupError> {
    let swap_needs_limit = memory.swap().is_some_and(|s| s > 0);
    if !swap_needs_limit || memory.limit().is_some_and(|l| l != 0) {
        return Ok(None);
    }
    let content = file::read(dir, "memory.max")?;
    let limit = match content.trim() {
        "max" => -1,
        v => v.parse().map_err(|_| CgroupError::Parse {
            path: dir.join("memory.max"),
            content: content.clone(),
        })?,
    };
    let mut merged = *memory;
    merged.set_limit(Some(limit));
    Ok(Some(merged))
}

pub(crate) fn apply(dir: &Path, memory: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = memory.limit().unwrap_or(0);
    let swap = memory.swap().unwrap_or(0);
    if memory.check_before_update() == Some(true) && limit > 0 {
        check_usage_below(dir, limit)?;
    }
    let swap_value = match swap_max(swap, limit)? {
        // swap == limit > 0: no swap at all, written explicitly as "0".
        0 if swap > 0 => Some("0".to_owned()),
        v => memory_value(v),
    };
    // memory.swap.max first: lowering memory.max below the current memory.swap.max is fine, the
    // reverse order could leave a moment with more swap than asked for (runc fs2/memory.go).
    if let Some(value) = swap_value {
        match file::write(dir, "memory.swap.max", &value) {
            // No swap accounting (CONFIG_MEMCG_SWAP off, or swapaccount=0): "max" and "0" are moot.
            Err(e) if e.errno() == Some(Errno::ENOENT) && (value == "max" || value == "0") => {}
            result => result?,
        }
    }
    if let Some(value) = memory_value(limit) {
        file::write(dir, "memory.max", &value)?;
    }
    if let Some(value) = memory.reservation().and_then(memory_value) {
        file::write(dir, "memory.low", &value)?;
    }
    Ok(())
}

/// memory.checkBeforeUpdate: refuse a limit at or below the current usage (it would OOM-kill on v2
/// where v1 returned EBUSY).
fn check_usage_below(dir: &Path, limit: i64) -> Result<(), CgroupError> {
    let content = file::read(dir, "memory.current")?;
    let usage: i64 = content.trim().parse().map_err(|_| CgroupError::Parse {
        path: dir.join("memory.current"),
        content: content.clone(),
    })?;
    if usage >= limit {
        return Err(CgroupError::InvalidResource {
            field: "memory.limit",
            reason: format!("rejecting memory limit {limit} below current usage {usage}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::LinuxMemoryBuilder;

    const FILES: [&str; 4] = [
        "memory.max",
        "memory.low",
        "memory.swap.max",
        "memory.current",
    ];

    fn mem(limit: Option<i64>, swap: Option<i64>, reservation: Option<i64>) -> LinuxMemory {
        let mut b = LinuxMemoryBuilder::default();
        if let Some(v) = limit {
            b = b.limit(v);
        }
        if let Some(v) = swap {
            b = b.swap(v);
        }
        if let Some(v) = reservation {
            b = b.reservation(v);
        }
        b.build().unwrap()
    }

    /// (memory.swap.max, memory.max, memory.low) after applying; "-" = not written.
    fn written(m: &LinuxMemory) -> (String, String, String) {
        let fx = Fixture::new(&FILES);
        apply(fx.dir(), m).unwrap();
        (
            fx.content("memory.swap.max"),
            fx.content("memory.max"),
            fx.content("memory.low"),
        )
    }

    fn t(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.into(), b.into(), c.into())
    }

    #[test]
    fn limit_swap_reservation_table() {
        let mib = 1 << 20;
        assert_eq!(
            written(&mem(Some(100 * mib), None, None)),
            t("", "104857600", "")
        );
        assert_eq!(written(&mem(Some(-1), None, None)), t("max", "max", ""));
        assert_eq!(written(&mem(Some(-1), Some(-1), None)), t("max", "max", ""));
        assert_eq!(
            written(&mem(Some(100), Some(300), None)),
            t("200", "100", "")
        );
        // swap equal to the limit: no swap at all.
        assert_eq!(written(&mem(Some(100), Some(100), None)), t("0", "100", ""));
        assert_eq!(
            written(&mem(Some(100), Some(-1), None)),
            t("max", "100", "")
        );
        // Unlimited memory: swap is taken as is (opencontainers/cgroups ConvertMemorySwapToCgroupV2Value).
        assert_eq!(
            written(&mem(Some(-1), Some(500), None)),
            t("500", "max", "")
        );
        assert_eq!(written(&mem(None, None, Some(50))), t("", "", "50"));
        assert_eq!(written(&mem(None, None, Some(-1))), t("", "", "max"));
        assert_eq!(written(&mem(Some(0), Some(0), Some(0))), t("", "", ""));
    }

    #[test]
    fn invalid_swap_is_an_error_naming_the_field() {
        let fx = Fixture::new(&FILES);
        let err = apply(fx.dir(), &mem(None, Some(100), None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cgroup: invalid memory.swap: unable to set swap limit without memory limit"
        );
        let err = apply(fx.dir(), &mem(Some(200), Some(100), None)).unwrap_err();
        assert!(
            err.to_string().contains("should be >= memory limit 200"),
            "{err}"
        );
        assert_eq!(
            fx.content("memory.max"),
            "",
            "nothing written after a swap error"
        );
    }

    #[test]
    fn missing_swap_file_is_ignored_only_for_max_and_zero() {
        let fx = Fixture::new(&["memory.max"]);
        apply(fx.dir(), &mem(Some(100), Some(100), None)).unwrap();
        apply(fx.dir(), &mem(Some(-1), None, None)).unwrap();
        let err = apply(fx.dir(), &mem(Some(100), Some(200), None)).unwrap_err();
        assert_eq!(err.errno(), Some(Errno::ENOENT), "{err}");
    }

    #[test]
    fn check_before_update_refuses_a_limit_below_usage() {
        let fx = Fixture::new(&FILES);
        fx.set("memory.current", "5000\n");
        let mut m = mem(Some(4096), None, None);
        m.set_check_before_update(Some(true));
        let err = apply(fx.dir(), &m).unwrap_err();
        assert!(
            err.to_string().contains("below current usage 5000"),
            "{err}"
        );
        m.set_limit(Some(8192));
        apply(fx.dir(), &m).unwrap();
        assert_eq!(fx.content("memory.max"), "8192");
    }

    #[test]
    fn update_of_swap_alone_uses_the_current_limit() {
        let fx = Fixture::new(&FILES);
        fx.set("memory.max", "1000\n");
        let merged = with_current_limit(fx.dir(), &mem(None, Some(3000), None))
            .unwrap()
            .unwrap();
        apply(fx.dir(), &merged).unwrap();
        assert_eq!(fx.content("memory.swap.max"), "2000");
        fx.set("memory.max", "max\n");
        let merged = with_current_limit(fx.dir(), &mem(None, Some(3000), None))
            .unwrap()
            .unwrap();
        assert_eq!(merged.limit(), Some(-1));
        assert_eq!(
            with_current_limit(fx.dir(), &mem(Some(5), Some(3000), None)).unwrap(),
            None
        );
        assert_eq!(
            with_current_limit(fx.dir(), &mem(None, Some(-1), None)).unwrap(),
            None
        );
    }

    #[test]
    fn requested_names_what_is_asked() {
        assert_eq!(requested(&mem(None, None, None)), None);
        assert_eq!(requested(&mem(Some(0), None, None)), None);
        assert_eq!(requested(&mem(Some(1), None, None)), Some("memory limit"));
        assert_eq!(
            requested(&mem(None, None, Some(1))),
            Some("memory reservation")
        );
    }
}
