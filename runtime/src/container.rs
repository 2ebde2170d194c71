//! What husk stores about a container (`state.json` in its state directory) and the status derived
//! from it. The status is never stored: it comes from the init process (alive, same start time, not
//! a zombie), `start.sock` (created) and the cgroup freezer (paused).
use std::collections::BTreeMap;
use std::path::PathBuf;

use husk_cgroup::qos::{QosPlan, CLASS_ANNOTATION};
use husk_cgroup::{Cgroup, Hierarchy};
use husk_oci::{ContainerStatus, State};
use oci_spec::runtime::{Hook, Linux, LinuxResources, Process, Spec};
use serde::{Deserialize, Serialize};

use crate::procfs::ProcStat;
use crate::store::ContainerDir;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub oci_version: String,
    pub id: String,
    /// Host pid of the container init.
    pub pid: i32,
    /// Its `/proc/<pid>/stat` start time: tells the init apart from a later process with its pid.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The container's cgroup, relative to the cgroup2 root.
    pub cgroup_path: PathBuf,
    /// The hooks of later commands (config.json is read once, by create): poststart for `start`,
    /// poststop for `delete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<Hook>,
    /// What the QoS engine made of the container; None when the engine is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<QosRecord>,
}

/// The QoS class husk gave the container (reported as the `io.husk.qos.class` annotation) and what
/// `update` re-derives class and plan from: the resources as last applied and kubelet's signals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QosRecord {
    pub class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<LinuxResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// Whether the plan last applied gave the cgroup a memory.min, which then counts in its
    /// ancestors' (delete reconciles them only then). A record without the field is assumed to.
    #[serde(default = "assume_protected")]
    pub protects_memory: bool,
}

fn assume_protected() -> bool {
    true
}

impl QosRecord {
    /// The inputs of `classify` and `plan` kept from config.json, and what `plan` made of them.
    pub fn of(spec: &Spec, plan: &QosPlan) -> QosRecord {
        let linux = spec.linux().as_ref();
        QosRecord {
            class: plan.class.name().to_owned(),
            protects_memory: plan.memory_min() > 0,
            // Device rules play no part in QoS and update never changes them.
            resources: linux.and_then(|l| l.resources().clone()).map(|mut r| {
                r.set_devices(None);
                r
            }),
            cgroups_path: linux.and_then(|l| l.cgroups_path().clone()),
            oom_score_adj: spec.process().as_ref().and_then(|p| p.oom_score_adj()),
        }
    }

    /// A spec holding exactly what `classify` and `plan` read: annotations, cgroupsPath,
    /// resources, oomScoreAdj.
    pub fn spec(&self, annotations: &BTreeMap<String, String>) -> Spec {
        let mut linux = Linux::default();
        linux
            .set_resources(self.resources.clone())
            .set_cgroups_path(self.cgroups_path.clone());
        let mut process = Process::default();
        process.set_oom_score_adj(self.oom_score_adj);
        let mut spec = Spec::default();
        spec.set_linux(Some(linux))
            .set_process(Some(process))
            .set_annotations(Some(annotations.clone().into_iter().collect()));
        spec
    }
}

impl Record {
    pub fn status(&self, dir: &ContainerDir) -> ContainerStatus {
        let init_alive = ProcStat::read(self.pid)
            .is_some_and(|stat| stat.is_alive() && stat.start_time == self.pid_start_time);
        if !init_alive {
            ContainerStatus::Stopped
        } else if dir.has_start_socket() {
            ContainerStatus::Created
        } else if self
            .cgroup()
            .and_then(|cg| Ok(cg.is_frozen()?))
            .unwrap_or(false)
        {
            ContainerStatus::Paused
        } else {
            ContainerStatus::Running
        }
    }

    /// The container's cgroup in the host's cgroup2 hierarchy.
    pub fn cgroup(&self) -> anyhow::Result<Cgroup> {
        let hierarchy = Hierarchy::detect()?;
        Ok(Cgroup::open(&hierarchy, &self.cgroup_path))
    }

    /// runc's state document; the pid is 0 once stopped.
    pub fn state(&self, status: ContainerStatus) -> State {
        let mut annotations = self.annotations.clone();
        if let Some(qos) = &self.qos {
            annotations.insert(CLASS_ANNOTATION.to_owned(), qos.class.clone());
        }
        State {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            pid: if status == ContainerStatus::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations,
            owner: String::new(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::Store;

    pub(crate) fn sample_record() -> Record {
        Record {
            oci_version: "1.0.2-dev".into(),
            id: "c1".into(),
            pid: std::process::id() as i32,
            pid_start_time: ProcStat::read(std::process::id() as i32)
                .unwrap()
                .start_time,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-12-04T15:15:01.123456789Z".into(),
            annotations: BTreeMap::from([("k".to_string(), "v".to_string())]),
            cgroup_path: "/c1".into(),
            poststart: Vec::new(),
            poststop: Vec::new(),
            qos: None,
        }
    }

    #[test]
    fn status_follows_the_init_process_and_the_start_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Store::new(tmp.path().to_path_buf()).create("c1").unwrap();
        let mut record = sample_record();
        // This test process plays the init.
        std::fs::write(dir.start_socket(), "").unwrap();
        assert_eq!(record.status(&dir), ContainerStatus::Created);
        std::fs::remove_file(dir.start_socket()).unwrap();
        assert_eq!(record.status(&dir), ContainerStatus::Running);
        // Same pid, different start time: the pid was reused by another process.
        record.pid_start_time += 1;
        assert_eq!(record.status(&dir), ContainerStatus::Stopped);
        record.pid = i32::MAX;
        assert_eq!(record.status(&dir), ContainerStatus::Stopped);
    }

    #[test]
    fn a_zombie_init_is_stopped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Store::new(tmp.path().to_path_buf()).create("c1").unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let start_time = ProcStat::read(pid).unwrap().start_time;
        // Wait for it to exit without reaping it.
        while ProcStat::read(pid).unwrap().is_alive() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let record = Record {
            pid,
            pid_start_time: start_time,
            ..sample_record()
        };
        assert_eq!(record.status(&dir), ContainerStatus::Stopped);
        child.wait().unwrap();
    }

    #[test]
    fn the_qos_record_keeps_what_classify_reads() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}, "oomScoreAdj": 500},
            "linux": {
                "cgroupsPath": "/kubepods/burstable/pod1/c1",
                "resources": {"memory": {"limit": 1000}, "cpu": {"shares": 512}}
            }
        }))
        .unwrap();
        let classified = husk_cgroup::qos::classify(&spec).unwrap();
        let plan = husk_cgroup::qos::plan(&classified, &spec, &husk_cgroup::qos::Policy::default());
        let kept = QosRecord::of(&spec, &plan);
        // A limit but no known request: no memory.min, so delete leaves the ancestors alone.
        assert!(!kept.protects_memory);
        let json = serde_json::to_string(&kept).unwrap();
        let kept: QosRecord = serde_json::from_str(&json).unwrap();
        assert!(!kept.protects_memory);
        // A record from before the field: assumed to protect, so delete reconciles.
        let mut older: serde_json::Value = serde_json::from_str(&json).unwrap();
        older
            .as_object_mut()
            .unwrap()
            .remove("protectsMemory")
            .unwrap();
        let older: QosRecord = serde_json::from_value(older).unwrap();
        assert!(older.protects_memory);
        let rebuilt = kept.spec(&BTreeMap::new());
        let (a, b) = (
            husk_cgroup::qos::classify(&spec).unwrap(),
            husk_cgroup::qos::classify(&rebuilt).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(b.class, husk_cgroup::qos::QosClass::Burstable);
        let record = Record {
            qos: Some(kept),
            ..sample_record()
        };
        let state = record.state(ContainerStatus::Running);
        assert_eq!(state.annotations[CLASS_ANNOTATION], "burstable");
        assert_eq!(state.annotations["k"], "v");
    }

    #[test]
    fn state_zeroes_the_pid_of_a_stopped_container() {
        let record = sample_record();
        assert_eq!(record.state(ContainerStatus::Stopped).pid, 0);
        let running = record.state(ContainerStatus::Running);
        assert_eq!(running.pid, record.pid);
        assert_eq!(running.annotations.get("k").map(String::as_str), Some("v"));
        assert_eq!(running.owner, "");
    }
}
