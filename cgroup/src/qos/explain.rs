//! What husk will do for a container and why: the class, the rule that decided it, and every QoS
//! cgroup file with its value and source, as a table (Display) and as JSON (Serialize).

use std::fmt;

use oci_spec::runtime::Spec;
use serde::Serialize;

use super::class::{classify, QosClass, Rule};
use super::error::QosError;
use super::plan::{plan, PlanEntry};
use super::policy::Policy;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub class: QosClass,
    pub rule: Rule,
    pub reason: String,
    pub memory_request: Option<u64>,
    /// The policy's `enabled`: false means husk writes no policy values.
    pub enabled: bool,
    pub files: Vec<PlanEntry>,
    pub notes: Vec<String>,
}

pub fn explain(spec: &Spec, policy: &Policy) -> Result<Explanation, QosError> {
    let classification = classify(spec)?;
    let plan = plan(&classification, spec, policy);
    let mut notes = Vec::new();
    if !plan.enabled {
        notes.push("the QoS engine is off in the policy: husk writes no policy values".to_owned());
    }
    if plan.memory_min() > 0 {
        let ancestors = if policy.enabled && policy.protect_ancestors {
            "husk raises the ancestors it manages to the sum of their children's memory.min"
        } else {
            "the policy does not let husk raise the ancestors (protect_ancestors = false)"
        };
        notes.push(format!(
            "memory.min protects only as far as every ancestor's memory.min allows (cgroup v2 hands \
             protection down from the root); {ancestors}"
        ));
    }
    if plan.entries.iter().any(|e| e.file == "cpu.weight") {
        notes.push(
            "cpu.weight only competes among sibling cgroups: it weighs this container against the \
             other children of its parent cgroup, not against the rest of the machine"
                .to_owned(),
        );
    }
    Ok(Explanation {
        class: classification.class,
        rule: classification.rule,
        reason: classification.reason,
        memory_request: classification.memory_request,
        enabled: plan.enabled,
        files: plan.entries,
        notes,
    })
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "class: {} (rule: {}; {})",
            self.class, self.rule, self.reason
        )?;
        if let Some(request) = self.memory_request {
            writeln!(f, "memory request: {request}")?;
        }
        let value_width = self
            .files
            .iter()
            .map(|e| e.value.len())
            .max()
            .unwrap_or(0)
            .max(5);
        writeln!(
            f,
            "{:<12} {:<value_width$} {:<15} WHY",
            "FILE", "VALUE", "SOURCE"
        )?;
        for e in &self.files {
            writeln!(
                f,
                "{:<12} {:<value_width$} {:<15} {}",
                e.file,
                e.value,
                e.source.to_string(),
                e.detail
            )?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Spec {
        let path = format!(
            "{}/../../shared/fixtures/engine-configs/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        Spec::load(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn table_and_json() {
        let mut spec = fixture("ctr-memory-limit-cpushares512.config.json");
        let annotations = [(
            "io.husk.qos.memory-request".to_owned(),
            "16777216".to_owned(),
        )];
        spec.set_annotations(Some(annotations.into_iter().collect()));
        let e = explain(&spec, &Policy::default()).unwrap();
        assert_eq!((e.class, e.rule), (QosClass::Burstable, Rule::Resources));
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "class: burstable (rule: resources; memory limit 67108864, memory request 16777216, no cpu quota, cpu shares 512: requests below limits)"
        );
        assert_eq!(lines[1], "memory request: 16777216");
        assert_eq!(lines[2], "FILE         VALUE    SOURCE          WHY");
        assert_eq!(
            lines[3],
            "memory.max   67108864 spec            linux.resources.memory.limit"
        );
        assert_eq!(
            lines[4],
            "memory.min   16777216 policy default  burstable: the memory request"
        );
        // 16777216 + 0.9 × 50331648 = 62075699.2 -> 15155 pages.
        assert_eq!(
            lines[5],
            "memory.high  62074880 policy default  burstable: request + 0.9 × (limit − request), page-aligned (KEP-2570)"
        );
        assert_eq!(
            lines[6],
            "cpu.weight   59       spec            linux.resources.cpu.shares 512"
        );
        assert!(
            lines[7].starts_with("note: memory.min protects only as far"),
            "{text}"
        );
        assert!(
            lines[8].starts_with("note: cpu.weight only competes among sibling cgroups"),
            "{text}"
        );

        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["class"], "burstable");
        assert_eq!(json["rule"], "resources");
        assert_eq!(json["files"][1]["file"], "memory.min");
        assert_eq!(json["files"][1]["source"], "policy");
        assert_eq!(json["files"][3]["source"], "spec");
    }

    #[test]
    fn engine_configs_classify() {
        let table = [
            // CRI sandbox and container without kubelet's cgroup parent or oom_score_adj (0 is not a
            // kubelet value): nothing asked, BestEffort. Another runtime's qos annotation is ignored.
            (
                "cri-host-container.config.json",
                QosClass::BestEffort,
                Rule::Resources,
            ),
            (
                "cri-host-sandbox.config.json",
                QosClass::BestEffort,
                Rule::Resources,
            ),
            (
                "cri-host-sandbox-cgroups-enabled-attempt.config.json",
                QosClass::Burstable,
                Rule::KubepodsPath,
            ),
            (
                "ctr-memory-limit-cpushares512.config.json",
                QosClass::Burstable,
                Rule::Resources,
            ),
            (
                "ctr-run-d.config.json",
                QosClass::BestEffort,
                Rule::Resources,
            ),
            (
                "podman-bridge-network.config.json",
                QosClass::BestEffort,
                Rule::Resources,
            ),
            (
                "podman-runc-memory64m-cpushares512.config.json",
                QosClass::Burstable,
                Rule::Resources,
            ),
            (
                "podman-runc-run-d.config.json",
                QosClass::BestEffort,
                Rule::Resources,
            ),
        ];
        for (name, class, rule) in table {
            let e = explain(&fixture(name), &Policy::default()).unwrap();
            assert_eq!((e.class, e.rule), (class, rule), "{name}: {}", e.reason);
        }
        let e = explain(
            &fixture("cri-host-sandbox-cgroups-enabled-attempt.config.json"),
            &Policy::default(),
        )
        .unwrap();
        // The pause container's shares 2 are the spec's: weight 1, not the burstable default.
        let weight = e.files.iter().find(|f| f.file == "cpu.weight").unwrap();
        assert_eq!(weight.value, "1");
        let e = explain(
            &fixture("podman-runc-run-d.config.json"),
            &Policy::default(),
        )
        .unwrap();
        let values: Vec<(&str, &str)> =
            e.files.iter().map(|f| (f.file, f.value.as_str())).collect();
        assert_eq!(
            values,
            [
                ("memory.min", "0"),
                ("memory.high", "max"),
                ("cpu.weight", "100")
            ]
        );
    }

    #[test]
    fn disabled_engine_is_noted() {
        let off = Policy {
            enabled: false,
            ..Policy::default()
        };
        let e = explain(&fixture("ctr-run-d.config.json"), &off).unwrap();
        assert!(!e.enabled);
        assert!(e.files.is_empty());
        assert_eq!(
            e.notes,
            ["the QoS engine is off in the policy: husk writes no policy values"]
        );
    }
}
