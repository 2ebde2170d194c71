//! The QoS policy: per class, the cpu.weight default, whether memory.min protects the request, and
//! the memory.high throttling factors; read from a TOML file, every value checked against the
//! kernel's range.
//!
//! ```toml
//! enabled = true            # false: nothing is written (explain still classifies)
//! protect_ancestors = true  # keep each ancestor's memory.min >= the sum of its children's
//!
//! [guaranteed]
//! cpu_weight = 10000        # when the spec has no cpu shares
//! memory_min = true         # memory.min = the memory limit
//! memory_high = false       # memory.high = max
//!
//! [burstable]
//! cpu_weight = 512
//! memory_min = true                 # memory.min = the memory request, when known
//! memory_high = true                # throttle between the request and the limit (KEP-2570)
//! memory_high_factor = 0.9          # request + factor * (limit - request), page-aligned
//! memory_high_request_factor = 1.2  # request * factor, when there is no limit
//!
//! [besteffort]
//! cpu_weight = 100
//! ```
//! A class table may give only some keys; the others keep that class's defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::class::QosClass;
use super::error::QosError;

pub const DEFAULT_POLICY_PATH: &str = "/etc/husk/qos.toml";

/// cgroup-v2.rst "Weights": cpu.weight is in [1, 10000].
const CPU_WEIGHT_RANGE: (u64, u64) = (1, 10_000);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub enabled: bool,
    pub protect_ancestors: bool,
    pub guaranteed: ClassPolicy,
    pub burstable: ClassPolicy,
    pub besteffort: ClassPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassPolicy {
    /// cpu.weight when the spec gives no cpu shares.
    pub cpu_weight: u64,
    /// memory.min = the request (Guaranteed: the limit), never above the limit.
    pub memory_min: bool,
    /// memory.high below the limit; false: memory.high = max.
    pub memory_high: bool,
    /// KEP-2570 memoryThrottlingFactor: request + factor × (limit − request).
    pub memory_high_factor: f64,
    /// Without a limit: request × factor.
    pub memory_high_request_factor: f64,
}

impl Default for Policy {
    fn default() -> Self {
        let class = |cpu_weight, memory_min, memory_high| ClassPolicy {
            cpu_weight,
            memory_min,
            memory_high,
            memory_high_factor: 0.9,
            memory_high_request_factor: 1.2,
        };
        Policy {
            enabled: true,
            protect_ancestors: true,
            guaranteed: class(10_000, true, false),
            burstable: class(512, true, true),
            besteffort: class(100, false, false),
        }
    }
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    enabled: Option<bool>,
    protect_ancestors: Option<bool>,
    guaranteed: Option<ClassFile>,
    burstable: Option<ClassFile>,
    besteffort: Option<ClassFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    cpu_weight: Option<i64>,
    memory_min: Option<bool>,
    memory_high: Option<bool>,
    memory_high_factor: Option<f64>,
    memory_high_request_factor: Option<f64>,
}

impl Policy {
    /// The policy at `path`, else at /etc/husk/qos.toml; a missing default file means the defaults,
    /// a missing file named by the caller is an error.
    pub fn load(path: Option<&Path>) -> Result<Policy, QosError> {
        let (path, required) = match path {
            Some(p) => (p, true),
            None => (Path::new(DEFAULT_POLICY_PATH), false),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Policy::parse(&text, path),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Policy::default())
            }
            Err(e) => Err(QosError::PolicyRead {
                path: path.to_owned(),
                errno: e.into(),
            }),
        }
    }

    /// `text` is the content of the file at `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Policy, QosError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| QosError::PolicyParse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let mut policy = Policy::default();
        policy.enabled = file.enabled.unwrap_or(policy.enabled);
        policy.protect_ancestors = file.protect_ancestors.unwrap_or(policy.protect_ancestors);
        let classes = [
            (file.guaranteed, &mut policy.guaranteed, "guaranteed"),
            (file.burstable, &mut policy.burstable, "burstable"),
            (file.besteffort, &mut policy.besteffort, "besteffort"),
        ];
        for (given, class, name) in classes {
            if let Some(given) = given {
                given.merge_into(class, name, path)?;
            }
        }
        Ok(policy)
    }

    pub fn class(&self, class: QosClass) -> &ClassPolicy {
        match class {
            QosClass::Guaranteed => &self.guaranteed,
            QosClass::Burstable => &self.burstable,
            QosClass::BestEffort => &self.besteffort,
        }
    }
}

impl ClassFile {
    fn merge_into(self, class: &mut ClassPolicy, name: &str, path: &Path) -> Result<(), QosError> {
        let out_of_range = |key: &str, value: String, range| QosError::PolicyRange {
            path: PathBuf::from(path),
            key: format!("{name}.{key}"),
            value,
            range,
        };
        if let Some(weight) = self.cpu_weight {
            let (low, high) = CPU_WEIGHT_RANGE;
            class.cpu_weight = u64::try_from(weight)
                .ok()
                .filter(|w| (low..=high).contains(w))
                .ok_or_else(|| out_of_range("cpu_weight", weight.to_string(), "1..=10000"))?;
        }
        class.memory_min = self.memory_min.unwrap_or(class.memory_min);
        class.memory_high = self.memory_high.unwrap_or(class.memory_high);
        if let Some(f) = self.memory_high_factor {
            // 0 puts memory.high at the request (never written), 1 at the limit.
            if !(0.0..=1.0).contains(&f) {
                return Err(out_of_range(
                    "memory_high_factor",
                    f.to_string(),
                    "0.0..=1.0",
                ));
            }
            class.memory_high_factor = f;
        }
        if let Some(f) = self.memory_high_request_factor {
            // Below 1 would throttle under the request; the bound keeps request × factor far from
            // overflowing a page-aligned u64.
            if !(1.0..=1000.0).contains(&f) {
                return Err(out_of_range(
                    "memory_high_request_factor",
                    f.to_string(),
                    "1.0..=1000.0",
                ));
            }
            class.memory_high_request_factor = f;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, QosError> {
        Policy::parse(text, Path::new("/etc/husk/qos.toml"))
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let p = parse("").unwrap();
        assert_eq!(p, Policy::default());
        assert!(p.enabled && p.protect_ancestors);
        assert_eq!(p.class(QosClass::Guaranteed).cpu_weight, 10_000);
        assert_eq!(p.class(QosClass::Burstable).cpu_weight, 512);
        assert_eq!(p.class(QosClass::BestEffort).cpu_weight, 100);
        assert!(p.burstable.memory_high && !p.guaranteed.memory_high);
        assert_eq!(p.burstable.memory_high_factor, 0.9);
        assert_eq!(p.burstable.memory_high_request_factor, 1.2);
    }

    #[test]
    fn partial_tables_keep_the_class_defaults() {
        let p = parse(
            "enabled = false\n[burstable]\ncpu_weight = 300\nmemory_high_factor = 0.8\n[besteffort]\nmemory_min = true\n",
        )
        .unwrap();
        assert!(!p.enabled);
        assert!(p.protect_ancestors);
        assert_eq!(p.burstable.cpu_weight, 300);
        assert_eq!(p.burstable.memory_high_factor, 0.8);
        assert!(p.burstable.memory_high && p.burstable.memory_min);
        assert!(p.besteffort.memory_min);
        assert_eq!(p.besteffort.cpu_weight, 100);
        assert_eq!(p.guaranteed, Policy::default().guaranteed);
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let table = [
            (
                "[guaranteed]\ncpu_weight = 0",
                "guaranteed.cpu_weight = 0 is out of range: 1..=10000",
            ),
            (
                "[burstable]\ncpu_weight = 10001",
                "burstable.cpu_weight = 10001 is out of range: 1..=10000",
            ),
            (
                "[besteffort]\ncpu_weight = -5",
                "besteffort.cpu_weight = -5 is out of range: 1..=10000",
            ),
            (
                "[burstable]\nmemory_high_factor = 1.5",
                "burstable.memory_high_factor = 1.5 is out of range: 0.0..=1.0",
            ),
            (
                "[burstable]\nmemory_high_factor = nan",
                "burstable.memory_high_factor = NaN is out of range: 0.0..=1.0",
            ),
            (
                "[burstable]\nmemory_high_request_factor = 0.5",
                "burstable.memory_high_request_factor = 0.5 is out of range: 1.0..=1000.0",
            ),
        ];
        for (text, message) in table {
            let err = parse(text).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("qos: policy /etc/husk/qos.toml: {message}")
            );
        }
        parse("[guaranteed]\ncpu_weight = 1\n[burstable]\ncpu_weight = 10000").unwrap();
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_parse_errors() {
        let err = parse("[burstable]\ncpu_wieght = 3").unwrap_err();
        assert!(matches!(err, QosError::PolicyParse { .. }), "{err}");
        assert!(err.to_string().contains("cpu_wieght"), "{err}");
        let err = parse("enabled = \"yes\"").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("qos: policy /etc/husk/qos.toml: "),
            "{err}"
        );
        assert!(err.to_string().contains("enabled"), "{err}");
        let err = parse("[platinum]\ncpu_weight = 3").unwrap_err();
        assert!(err.to_string().contains("platinum"), "{err}");
    }

    #[test]
    fn load_missing_default_is_defaults_missing_named_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("qos.toml");
        let err = Policy::load(Some(&missing)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "qos: read policy {}: no such file or directory (ENOENT)",
                missing.display()
            )
        );
        std::fs::write(&missing, "[besteffort]\ncpu_weight = 7\n").unwrap();
        assert_eq!(
            Policy::load(Some(&missing)).unwrap().besteffort.cpu_weight,
            7
        );
        if !Path::new(DEFAULT_POLICY_PATH).exists() {
            assert_eq!(Policy::load(None).unwrap(), Policy::default());
        }
    }
}
