//! cpu controller: shares -> cpu.weight, quota/period -> cpu.max, burst -> cpu.max.burst, idle ->
//! cpu.idle (runtime-contract §3.1, §3.2; runc fs2/cpu.go). cpus/mems belong to cpuset.rs.

use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::LinuxCpu;

use crate::error::CgroupError;
use crate::file;

const DEFAULT_PERIOD: u64 = 100_000;

pub(crate) fn requested(cpu: &LinuxCpu) -> Option<&'static str> {
    if cpu.shares().is_some_and(|s| s != 0) {
        Some("cpu shares")
    } else if cpu.quota().is_some_and(|q| q != 0) || cpu.period().is_some_and(|p| p != 0) {
        Some("cpu quota")
    } else if cpu.burst().is_some() {
        Some("cpu burst")
    } else if cpu.idle().is_some() {
        Some("cpu idle")
    } else {
        None
    }
}

/// cgroup v1 cpu.shares [2, 262144] -> cgroup v2 cpu.weight [1, 10000], the log-quadratic fit of
/// opencontainers/cgroups ≥ v0.0.4 (runc ≥ 1.3.2, crun ≥ 1.23): 2 -> 1, 1024 -> 100, 262144 -> 10000.
/// 0 means unset.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        s => {
            let l = (s as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// cpu.max: "<quota|max> <period>"; quota ≤ 0 is "max", the period defaults to 100000 µs.
fn cpu_max(quota: i64, period: u64) -> String {
    let period = if period == 0 { DEFAULT_PERIOD } else { period };
    if quota > 0 {
        format!("{quota} {period}")
    } else {
        format!("max {period}")
    }
}

/// For update: a quota without a period keeps the current period, a period without a quota keeps
/// the current quota (runc update.go merges with the running config); None when nothing to merge.
pub(crate) fn with_current_max(
    dir: &Path,
    cpu: &LinuxCpu,
) -> Result<Option<LinuxCpu>, CgroupError> {
    let quota = cpu.quota().filter(|q| *q != 0);
    let period = cpu.period().filter(|p| *p != 0);
    if quota.is_some() == period.is_some() {
        return Ok(None);
    }
    let content = file::read(dir, "cpu.max")?;
    let (current_quota, current_period) =
        parse_cpu_max(&content).ok_or_else(|| CgroupError::Parse {
            path: dir.join("cpu.max"),
            content: content.clone(),
        })?;
    let mut merged = cpu.clone();
    merged.set_quota(Some(quota.unwrap_or(current_quota)));
    merged.set_period(Some(period.unwrap_or(current_period)));
    Ok(Some(merged))
}

/// "max 100000" -> (-1, 100000); "50000 100000" -> (50000, 100000).
fn parse_cpu_max(content: &str) -> Option<(i64, u64)> {
    let (quota, period) = content.trim().split_once(' ')?;
    let quota = if quota == "max" {
        -1
    } else {
        quota.parse().ok()?
    };
    Some((quota, period.parse().ok()?))
}

pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(idle) = cpu.idle() {
        file::write(dir, "cpu.idle", &idle.to_string())?;
    }
    let weight = shares_to_weight(cpu.shares().unwrap_or(0));
    if weight != 0 {
        file::write(dir, "cpu.weight", &weight.to_string())?;
    }
    let quota = cpu.quota().unwrap_or(0);
    let period = cpu.period().unwrap_or(0);
    let sets_max = quota != 0 || period != 0;
    // cpu.max.burst before cpu.max; the kernel refuses (EINVAL) a burst above the current quota, so
    // when cpu.max is about to change, that one failure is retried after it (runc fs2/cpu.go).
    let mut burst_retry = None;
    if let Some(burst) = cpu.burst() {
        let value = burst.to_string();
        match file::write(dir, "cpu.max.burst", &value) {
            Err(e) if e.errno() == Some(Errno::EINVAL) && sets_max => burst_retry = Some(value),
            result => result?,
        }
    }
    if sets_max {
        file::write(dir, "cpu.max", &cpu_max(quota, period))?;
        if let Some(value) = burst_retry {
            file::write(dir, "cpu.max.burst", &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Fixture;
    use oci_spec::runtime::LinuxCpuBuilder;

    const FILES: [&str; 4] = ["cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle"];

    #[test]
    fn weight_formula_endpoints_and_kubelet_values() {
        let table = [
            (0, 0),
            (1, 1),
            (2, 1),
            (102, 17),
            (256, 35),
            (512, 59),
            (1024, 100),
            (2048, 174),
            (4096, 303),
            (16384, 942),
            (65536, 3023),
            (262_143, 10_000),
            (262_144, 10_000),
            (1 << 40, 10_000),
        ];
        for (shares, weight) in table {
            assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
        }
    }

    fn written(cpu: LinuxCpu) -> [String; 4] {
        let fx = Fixture::new(&FILES);
        apply(fx.dir(), &cpu).unwrap();
        FILES.map(|f| fx.content(f))
    }

    #[test]
    fn quota_period_table() {
        let b = LinuxCpuBuilder::default;
        assert_eq!(
            written(b().quota(50_000i64).period(100_000u64).build().unwrap())[1],
            "50000 100000"
        );
        // quota without period: the default period.
        assert_eq!(
            written(b().quota(20_000i64).build().unwrap())[1],
            "20000 100000"
        );
        // period without quota, and quota ≤ 0: unlimited.
        assert_eq!(
            written(b().period(50_000u64).build().unwrap())[1],
            "max 50000"
        );
        assert_eq!(written(b().quota(-1i64).build().unwrap())[1], "max 100000");
        assert_eq!(
            written(b().quota(0i64).period(0u64).build().unwrap())[1],
            ""
        );
    }

    #[test]
    fn shares_burst_idle() {
        let cpu = LinuxCpuBuilder::default()
            .shares(512u64)
            .burst(1000u64)
            .idle(1i64)
            .quota(5000i64)
            .build()
            .unwrap();
        assert_eq!(
            written(cpu),
            ["59", "5000 100000", "1000", "1"].map(String::from)
        );
        let cpu = LinuxCpuBuilder::default().shares(0u64).build().unwrap();
        assert_eq!(written(cpu), ["", "", "", ""].map(String::from));
    }

    #[test]
    fn update_keeps_the_other_half_of_cpu_max() {
        let fx = Fixture::new(&FILES);
        fx.set("cpu.max", "max 50000\n");
        let quota_only = LinuxCpuBuilder::default().quota(20_000i64).build().unwrap();
        let merged = with_current_max(fx.dir(), &quota_only).unwrap().unwrap();
        apply(fx.dir(), &merged).unwrap();
        assert_eq!(fx.content("cpu.max"), "20000 50000");
        let period_only = LinuxCpuBuilder::default()
            .period(10_000u64)
            .build()
            .unwrap();
        apply(
            fx.dir(),
            &with_current_max(fx.dir(), &period_only).unwrap().unwrap(),
        )
        .unwrap();
        assert_eq!(fx.content("cpu.max"), "20000 10000");
        let both = LinuxCpuBuilder::default()
            .quota(1i64)
            .period(2u64)
            .build()
            .unwrap();
        assert_eq!(with_current_max(fx.dir(), &both).unwrap(), None);
        fx.set("cpu.max", "garbage");
        assert!(matches!(
            with_current_max(fx.dir(), &quota_only),
            Err(CgroupError::Parse { .. })
        ));
    }

    #[test]
    fn requested_names_what_is_asked() {
        assert_eq!(
            requested(&LinuxCpuBuilder::default().build().unwrap()),
            None
        );
        assert_eq!(
            requested(&LinuxCpuBuilder::default().shares(2u64).build().unwrap()),
            Some("cpu shares")
        );
        assert_eq!(
            requested(&LinuxCpuBuilder::default().cpus("0-1").build().unwrap()),
            None
        );
    }
}
