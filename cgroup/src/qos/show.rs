//! Reading back what a container's cgroup holds: the QoS files, memory.events, memory and cpu
//! pressure, and the protection each ancestor lets through.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::ancestors::{ancestors, children_memory_min, memory_min};
use super::error::QosError;
use super::record;
use crate::file;
use crate::hierarchy::Hierarchy;
use crate::manager::event_value;
use crate::path::under_root;
use crate::stats::{read_psi, Psi};

const FILES: [&str; 6] = [
    "memory.min",
    "memory.low",
    "memory.high",
    "memory.max",
    "cpu.weight",
    "cpu.max",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QosStatus {
    /// The container's cgroup, relative to the hierarchy root.
    pub path: String,
    /// Each QoS file and its content; None when the file is missing (controller not enabled).
    pub files: Vec<(&'static str, Option<String>)>,
    pub memory_events: Option<MemoryEvents>,
    pub memory_pressure: Option<Psi>,
    pub cpu_pressure: Option<Psi>,
    /// From the top ancestor down to the container.
    pub protection: Vec<LevelProtection>,
    pub warnings: Vec<String>,
}

/// memory.events: how often the cgroup was throttled at memory.high, hit memory.max, and had a
/// process OOM-killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryEvents {
    pub high: u64,
    pub max: u64,
    pub oom_kill: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelProtection {
    pub path: String,
    /// None when the level has no memory.min (no memory controller there).
    pub memory_min: Option<u64>,
    /// What the level can actually claim: its memory.min, limited by the parent's effective
    /// protection, shared in proportion when the siblings claim more than that.
    pub effective_min: u64,
    /// husk's record matches the file: husk keeps it at the sum of the children.
    pub managed_by_husk: bool,
}

/// The QoS state of the container cgroup at `rel`.
pub fn show(h: &Hierarchy, rel: &Path) -> Result<QosStatus, QosError> {
    let dir = under_root(h.root(), rel)?;
    let files = FILES
        .iter()
        .map(|name| {
            Ok((
                *name,
                file::read_optional(&dir, name)?.map(|v| v.trim().to_owned()),
            ))
        })
        .collect::<Result<Vec<_>, QosError>>()?;
    let memory_events = file::read_optional(&dir, "memory.events")?.map(|content| {
        let count = |key| {
            event_value(&content, key)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        MemoryEvents {
            high: count("high"),
            max: count("max"),
            oom_kill: count("oom_kill"),
        }
    });
    let mut levels = ancestors(h, rel)?;
    levels.push(dir.clone());
    let protection = protection(h, &levels)?;
    let warnings = warnings(&protection);
    Ok(QosStatus {
        path: display_rel(h, &dir),
        files,
        memory_events,
        memory_pressure: read_psi(&dir, "memory.pressure")?,
        cpu_pressure: read_psi(&dir, "cpu.pressure")?,
        protection,
        warnings,
    })
}

fn display_rel(h: &Hierarchy, dir: &Path) -> String {
    let rel = dir.strip_prefix(h.root()).unwrap_or(dir);
    format!("/{}", rel.display())
}

/// The kernel's effective_protection (mm/memcontrol.c) with the settings standing in for usage: a
/// child of the root keeps its memory.min; below, a cgroup gets min(memory.min, parent's
/// effective), scaled by parent_effective / Σ siblings' memory.min when the siblings claim more.
fn protection(
    h: &Hierarchy,
    levels: &[std::path::PathBuf],
) -> Result<Vec<LevelProtection>, QosError> {
    let mut out: Vec<LevelProtection> = Vec::with_capacity(levels.len());
    for level in levels {
        let own = memory_min(level)?;
        let setting = own.unwrap_or(0);
        let effective = match out.last() {
            None => setting,
            Some(parent) => {
                let parent_dir = level.parent().expect("below the root");
                let siblings = children_memory_min(parent_dir)?;
                let share = if siblings > parent.effective_min {
                    (u128::from(parent.effective_min) * u128::from(setting) / u128::from(siblings))
                        as u64
                } else {
                    setting
                };
                share.min(parent.effective_min)
            }
        };
        let managed_by_husk = match own {
            Some(current) => record::read(level)? == Some(current),
            None => false,
        };
        out.push(LevelProtection {
            path: display_rel(h, level),
            memory_min: own,
            effective_min: effective,
            managed_by_husk,
        });
    }
    Ok(out)
}

fn warnings(levels: &[LevelProtection]) -> Vec<String> {
    let Some(container) = levels.last() else {
        return Vec::new();
    };
    let Some(wanted) = container.memory_min else {
        return vec!["no memory.min: the memory controller is not enabled for this cgroup, no memory protection".to_owned()];
    };
    if wanted == 0 {
        return Vec::new();
    }
    let mut warnings: Vec<String> = levels[..levels.len() - 1]
        .iter()
        .filter(|a| a.memory_min.unwrap_or(0) < wanted)
        .map(|a| {
            let min = a.memory_min.map_or("missing".to_owned(), |m| m.to_string());
            let who = if a.managed_by_husk {
                "husk's value: the sum of its children"
            } else {
                "not managed by husk"
            };
            format!(
                "ancestor {} caps the protection: memory.min {min} ({who}) < the container's memory.min {wanted}",
                a.path
            )
        })
        .collect();
    if warnings.is_empty() && container.effective_min < wanted {
        warnings.push(format!(
            "effective protection {} < memory.min {wanted}: siblings claim more than their parent's protection",
            container.effective_min
        ));
    }
    warnings
}

impl fmt::Display for QosStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cgroup: {}", self.path)?;
        for (name, value) in &self.files {
            writeln!(f, "  {name:<12} {}", value.as_deref().unwrap_or("-"))?;
        }
        match &self.memory_events {
            Some(e) => writeln!(
                f,
                "memory.events: high {} max {} oom_kill {}",
                e.high, e.max, e.oom_kill
            )?,
            None => writeln!(f, "memory.events: -")?,
        }
        for (name, psi) in [
            ("memory", &self.memory_pressure),
            ("cpu", &self.cpu_pressure),
        ] {
            match psi {
                Some(p) => writeln!(
                    f,
                    "{name} pressure: some avg10={:.2} avg60={:.2} total={} full avg10={:.2} avg60={:.2} total={}",
                    p.some.avg10, p.some.avg60, p.some.total, p.full.avg10, p.full.avg60, p.full.total
                )?,
                None => writeln!(f, "{name} pressure: -")?,
            }
        }
        writeln!(f, "protection (memory.min, effective, from the top):")?;
        for level in &self.protection {
            let min = level.memory_min.map_or("-".to_owned(), |m| m.to_string());
            let husk = if level.managed_by_husk {
                "  (husk)"
            } else {
                ""
            };
            writeln!(
                f,
                "  {:<48} {min:>14} {:>14}{husk}",
                level.path, level.effective_min
            )?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        writeln!(
            f,
            "note: cpu.weight only competes among sibling cgroups (children of the same parent)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::reconcile_ancestors;
    use crate::testutil::Fixture;

    #[test]
    fn files_events_pressure_and_effective_protection() {
        let fx = Fixture::new(&[]);
        for dir in ["kubepods", "kubepods/burstable", "kubepods/burstable/pod1"] {
            fx.set(&format!("{dir}/memory.min"), "0\n");
        }
        let c = "kubepods/burstable/pod1/c1";
        fx.set(&format!("{c}/memory.min"), "1000\n");
        fx.set(&format!("{c}/memory.high"), "max\n");
        fx.set(&format!("{c}/cpu.weight"), "59\n");
        fx.set(
            &format!("{c}/memory.events"),
            "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
        );
        fx.set(
            &format!("{c}/memory.pressure"),
            "some avg10=1.00 avg60=0.50 avg300=0.00 total=99\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=4\n",
        );
        // A foreign value caps the burstable tier.
        fx.set("kubepods/burstable/memory.min", "400\n");
        let h = Hierarchy::at(fx.dir());
        reconcile_ancestors(&h, Path::new(c)).unwrap();
        let status = show(&h, Path::new(c)).unwrap();
        assert_eq!(status.path, "/kubepods/burstable/pod1/c1");
        assert_eq!(status.files[0], ("memory.min", Some("1000".to_owned())));
        assert_eq!(status.files[1], ("memory.low", None));
        assert_eq!(
            status.memory_events,
            Some(MemoryEvents {
                high: 12,
                max: 3,
                oom_kill: 1
            })
        );
        assert_eq!(status.memory_pressure.as_ref().unwrap().some.total, 99);
        assert_eq!(status.cpu_pressure, None);
        let effective: Vec<(Option<u64>, u64, bool)> = status
            .protection
            .iter()
            .map(|l| (l.memory_min, l.effective_min, l.managed_by_husk))
            .collect();
        assert_eq!(
            effective,
            [
                (Some(400), 400, true),
                (Some(400), 400, false),
                (Some(1000), 400, true),
                (Some(1000), 400, false),
            ]
        );
        assert_eq!(
            status.warnings,
            [
                "ancestor /kubepods caps the protection: memory.min 400 (husk's value: the sum of its children) < the container's memory.min 1000",
                "ancestor /kubepods/burstable caps the protection: memory.min 400 (not managed by husk) < the container's memory.min 1000",
            ]
        );
        let text = status.to_string();
        assert!(
            text.contains("memory.events: high 12 max 3 oom_kill 1"),
            "{text}"
        );
        assert!(
            text.contains("only competes among sibling cgroups"),
            "{text}"
        );
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["protection"][2]["effective_min"], 400);
        assert_eq!(json["memory_events"]["oom_kill"], 1);
    }

    #[test]
    fn siblings_share_an_oversubscribed_parent() {
        let fx = Fixture::new(&[]);
        fx.set("p/memory.min", "600\n");
        fx.set("p/a/memory.min", "1000\n");
        fx.set("p/b/memory.min", "500\n");
        let status = show(&Hierarchy::at(fx.dir()), Path::new("/p/a")).unwrap();
        // 600 × 1000 / 1500.
        assert_eq!(status.protection[1].effective_min, 400);
        assert_eq!(status.warnings.len(), 1);
        fx.set("p/memory.min", "1200\n");
        let status = show(&Hierarchy::at(fx.dir()), Path::new("/p/a")).unwrap();
        assert_eq!(
            status.warnings,
            ["effective protection 800 < memory.min 1000: siblings claim more than their parent's protection"]
        );
        let fx = Fixture::new(&["c/cpu.weight"]);
        let status = show(&Hierarchy::at(fx.dir()), Path::new("/c")).unwrap();
        assert_eq!(
            status.warnings,
            ["no memory.min: the memory controller is not enabled for this cgroup, no memory protection"]
        );
    }
}
