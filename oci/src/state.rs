//! The container state document: runc's `state` output (`state.go` `containerState`), which is the
//! runtime-spec State (runtime.md "State") plus `rootfs`, `created` and `owner`. The same document,
//! with status `creating`/`stopped`, is what hooks read on stdin.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Runtime-spec container status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Only ever shown to prestart/createRuntime/createContainer hooks.
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl ContainerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Creating => "creating",
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Stopped => "stopped",
        }
    }
}

/// runc's `containerState`, field for field and in its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// 0 when stopped (runc forces it).
    pub pid: i32,
    pub status: ContainerStatus,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 with nanoseconds, UTC ([`crate::Timestamp::rfc3339_nano`]).
    pub created: String,
    /// Sorted by key, as Go marshals a map; omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Empty in `state`, the owner's user name in `list`.
    #[serde(default)]
    pub owner: String,
}

impl State {
    /// `json.MarshalIndent(s, "", "  ")`: two-space indent, no trailing newline.
    pub fn to_pretty_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("State always serializes")
    }

    /// Compact JSON, e.g. for hooks' stdin.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("State always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(status: ContainerStatus, annotations: &[(&str, &str)]) -> State {
        State {
            oci_version: "1.0.2-dev".into(),
            id: "c1".into(),
            pid: 4422,
            status,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-12-04T15:15:01.123456789Z".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            owner: String::new(),
        }
    }

    #[test]
    fn pretty_json_matches_runc_byte_for_byte() {
        let expected = r#"{
  "ociVersion": "1.0.2-dev",
  "id": "c1",
  "pid": 4422,
  "status": "running",
  "bundle": "/b",
  "rootfs": "/b/rootfs",
  "created": "2026-12-04T15:15:01.123456789Z",
  "owner": ""
}"#;
        assert_eq!(
            sample(ContainerStatus::Running, &[]).to_pretty_json(),
            expected
        );
    }

    #[test]
    fn annotations_are_sorted_and_come_before_owner() {
        let json = sample(ContainerStatus::Created, &[("z", "1"), ("a", "2")]).to_json();
        assert!(
            json.ends_with(r#""annotations":{"a":"2","z":"1"},"owner":""}"#),
            "{json}"
        );
        assert!(json.contains(r#""status":"created""#));
    }

    #[test]
    fn status_names_match_the_runtime_spec() {
        for status in [
            ContainerStatus::Creating,
            ContainerStatus::Created,
            ContainerStatus::Running,
            ContainerStatus::Paused,
            ContainerStatus::Stopped,
        ] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
    }
}
