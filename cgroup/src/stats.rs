//! Usage statistics of a cgroup, shaped like runc's `events --stats` data (runc types/events.go;
//! runtime-contract §1.5.3). Files of controllers that are not enabled are skipped.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::CgroupError;
use crate::file;
use crate::manager::{event_value, Cgroup};

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<Psi>,
}

/// Nanoseconds.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<Psi>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct MemoryEntry {
    /// u64::MAX when unlimited, as runc reports it.
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psi: Option<Psi>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// Pressure stall information (cpu.pressure, memory.pressure, io.pressure).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Psi {
    pub some: PsiData,
    pub full: PsiData,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct PsiData {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Cgroup {
    /// Reads every statistics file present in the cgroup.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let dir = self.dir();
        let mut hugetlb = BTreeMap::new();
        for size in hugetlb_sizes(dir)? {
            hugetlb.insert(size.clone(), read_hugetlb(dir, &size)?);
        }
        Ok(Stats {
            cpu: read_cpu(dir)?,
            memory: read_memory(dir)?,
            pids: Pids {
                current: read_number(dir, "pids.current")?.unwrap_or(0),
                // runc reports "max" as 0 (fs2/pids.go).
                limit: read_number(dir, "pids.max")?
                    .filter(|l| *l != u64::MAX)
                    .unwrap_or(0),
            },
            blkio: read_blkio(dir)?,
            hugetlb,
        })
    }
}

/// A single-number file; "max" (unlimited) is u64::MAX; None when the file does not exist.
fn read_number(dir: &Path, name: &str) -> Result<Option<u64>, CgroupError> {
    let Some(content) = file::read_optional(dir, name)? else {
        return Ok(None);
    };
    parse_number(content.trim())
        .map(Some)
        .ok_or_else(|| CgroupError::Parse {
            path: dir.join(name),
            content,
        })
}

fn parse_number(s: &str) -> Option<u64> {
    if s == "max" {
        Some(u64::MAX)
    } else {
        s.parse().ok()
    }
}

/// A flat-keyed file ("key value" lines) as a map; empty when the file does not exist.
fn read_flat(dir: &Path, name: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    let content = file::read_optional(dir, name)?.unwrap_or_default();
    Ok(content
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_owned(), parse_number(value.trim())?))
        })
        .collect())
}

fn read_cpu(dir: &Path) -> Result<Cpu, CgroupError> {
    let stat = read_flat(dir, "cpu.stat")?;
    let get = |key: &str| stat.get(key).copied().unwrap_or(0);
    Ok(Cpu {
        usage: CpuUsage {
            total: get("usage_usec") * 1000,
            kernel: get("system_usec") * 1000,
            user: get("user_usec") * 1000,
        },
        throttling: Throttling {
            periods: get("nr_periods"),
            throttled_periods: get("nr_throttled"),
            throttled_time: get("throttled_usec") * 1000,
        },
        psi: read_psi(dir, "cpu.pressure")?,
    })
}

fn read_memory(dir: &Path) -> Result<Memory, CgroupError> {
    let raw = read_flat(dir, "memory.stat")?;
    let events = read_flat(dir, "memory.events")?;
    let swap_events = read_flat(dir, "memory.swap.events")?;
    let usage = read_number(dir, "memory.current")?.unwrap_or(0);
    let swap_usage = read_number(dir, "memory.swap.current")?.unwrap_or(0);
    Ok(Memory {
        cache: raw.get("file").copied().unwrap_or(0),
        usage: MemoryEntry {
            limit: read_number(dir, "memory.max")?.unwrap_or(u64::MAX),
            usage,
            max: read_number(dir, "memory.peak")?.unwrap_or(0),
            failcnt: events.get("max").copied().unwrap_or(0),
        },
        // runc reports swap as memory+swap, the cgroup v1 meaning.
        swap: MemoryEntry {
            limit: read_number(dir, "memory.swap.max")?.unwrap_or(u64::MAX),
            usage: usage + swap_usage,
            max: read_number(dir, "memory.swap.peak")?.unwrap_or(0),
            failcnt: swap_events.get("fail").copied().unwrap_or(0),
        },
        kernel: MemoryEntry::default(),
        kernel_tcp: MemoryEntry::default(),
        raw,
        psi: read_psi(dir, "memory.pressure")?,
    })
}

/// io.stat lines: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
fn read_blkio(dir: &Path) -> Result<Blkio, CgroupError> {
    let mut blkio = Blkio {
        psi: read_psi(dir, "io.pressure")?,
        ..Default::default()
    };
    let content = file::read_optional(dir, "io.stat")?.unwrap_or_default();
    for line in content.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse() else { continue };
            let (list, op) = match key {
                "rbytes" => (&mut blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value,
            });
        }
    }
    Ok(blkio)
}

/// The page sizes with a `hugetlb.<size>.current` file.
fn hugetlb_sizes(dir: &Path) -> Result<Vec<String>, CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            return Err(CgroupError::Read {
                path: dir.to_owned(),
                errno: e.into(),
            })
        }
    };
    let mut sizes: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some(
                name.strip_prefix("hugetlb.")?
                    .strip_suffix(".current")?
                    .to_owned(),
            )
        })
        .filter(|size| !size.contains('.'))
        .collect();
    sizes.sort();
    Ok(sizes)
}

fn read_hugetlb(dir: &Path, size: &str) -> Result<Hugetlb, CgroupError> {
    let events = read_flat(dir, &format!("hugetlb.{size}.events"))?;
    Ok(Hugetlb {
        usage: read_number(dir, &format!("hugetlb.{size}.current"))?.unwrap_or(0),
        max: 0,
        failcnt: events.get("max").copied().unwrap_or(0),
    })
}

/// "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull ..." ; None when PSI is off.
pub(crate) fn read_psi(dir: &Path, name: &str) -> Result<Option<Psi>, CgroupError> {
    let Some(content) = file::read_optional(dir, name)? else {
        return Ok(None);
    };
    let parse = |kind: &str| -> Option<PsiData> {
        let rest = event_value(&content, kind)?;
        let mut data = PsiData::default();
        for field in rest.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "avg10" => data.avg10 = value.parse().ok()?,
                "avg60" => data.avg60 = value.parse().ok()?,
                "avg300" => data.avg300 = value.parse().ok()?,
                "total" => data.total = value.parse().ok()?,
                _ => {}
            }
        }
        Some(data)
    };
    let bad = || CgroupError::Parse {
        path: dir.join(name),
        content: content.clone(),
    };
    let some = parse("some").ok_or_else(bad)?;
    // The "full" line is missing in cpu.pressure before Linux 5.13.
    let full = if content.contains("full ") {
        parse("full").ok_or_else(bad)?
    } else {
        PsiData::default()
    };
    Ok(Some(Psi { some, full }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hierarchy::Hierarchy;
    use crate::testutil::Fixture;

    #[test]
    fn stats_from_files_in_runc_shape() {
        let fx = Fixture::new(&[]);
        fx.set("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n");
        fx.set("cpu.pressure", "some avg10=1.50 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
        fx.set("memory.current", "4096\n");
        fx.set("memory.max", "max\n");
        fx.set("memory.stat", "anon 1024\nfile 2048\n");
        fx.set("memory.events", "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n");
        fx.set("memory.swap.current", "100\n");
        fx.set("memory.swap.max", "0\n");
        fx.set("pids.current", "2\n");
        fx.set("pids.max", "max\n");
        fx.set(
            "io.stat",
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        fx.set("hugetlb.2MB.current", "0\n");
        fx.set("hugetlb.2MB.events", "max 5\n");
        fx.set("hugetlb.2MB.rsvd.current", "0\n");
        let stats = Cgroup::open(&Hierarchy::at(fx.dir()), Path::new("/"))
            .stats()
            .unwrap();
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["cpu"]["usage"]["total"], 1_500_000);
        assert_eq!(json["cpu"]["usage"]["kernel"], 500_000);
        assert_eq!(json["cpu"]["throttling"]["throttledTime"], 20_000);
        assert_eq!(json["cpu"]["psi"]["some"]["avg10"], 1.5);
        assert_eq!(json["cpu"]["psi"]["full"]["total"], 7);
        assert_eq!(json["memory"]["cache"], 2048);
        assert_eq!(json["memory"]["usage"]["limit"], u64::MAX);
        assert_eq!(json["memory"]["usage"]["failcnt"], 3);
        assert_eq!(json["memory"]["swap"]["usage"], 4196);
        assert_eq!(json["memory"]["raw"]["anon"], 1024);
        assert_eq!(json["pids"]["current"], 2);
        assert!(
            json["pids"].get("limit").is_none(),
            "max is reported as 0, omitted"
        );
        assert_eq!(json["blkio"]["ioServiceBytesRecursive"][1]["op"], "Write");
        assert_eq!(json["blkio"]["ioServicedRecursive"][0]["value"], 1);
        assert_eq!(json["hugetlb"]["2MB"]["failcnt"], 5);
        assert_eq!(
            json["hugetlb"].as_object().unwrap().len(),
            1,
            "rsvd is not a page size"
        );
        assert!(
            json["memory"].get("psi").is_none(),
            "no memory.pressure file"
        );
    }
}
