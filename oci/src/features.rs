//! The `features` document (runtime-spec features.md, features-linux.md): what husk implements,
//! fixed at compile time, never probed from the host.
use std::collections::BTreeMap;

use serde::Serialize;

use crate::OCI_VERSION;

/// The oldest config.json `ociVersion` husk accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";

pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mount options the spawn rootfs module interprets (flags, recursive attributes, propagation,
/// `tmpcopyup`); any other option is passed to the filesystem as data. `idmap`/`ridmap` are left
/// out until idmapped mounts are implemented (see `mountExtensions`).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "notmpcopyup",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

pub const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time",
];

pub const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

pub const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// The architectures husk-seccomp generates filters for.
pub const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// seccomp(2) filter flags husk knows; all of them are passed to the kernel as given.
pub const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// The document, field for field in runtime-spec (and runc) order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    pub oci_version_min: &'static str,
    pub oci_version_max: &'static str,
    pub hooks: &'static [&'static str],
    pub mount_options: &'static [&'static str],
    pub linux: LinuxFeatures,
    pub annotations: BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxFeatures {
    pub namespaces: &'static [&'static str],
    pub capabilities: Vec<String>,
    pub cgroup: CgroupFeatures,
    pub seccomp: SeccompFeatures,
    pub apparmor: Enabled,
    pub selinux: Enabled,
    pub mount_extensions: MountExtensions,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupFeatures {
    pub v1: bool,
    pub v2: bool,
    pub systemd: bool,
    pub systemd_user: bool,
    pub rdma: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompFeatures {
    pub enabled: bool,
    pub actions: &'static [&'static str],
    pub operators: &'static [&'static str],
    pub archs: &'static [&'static str],
    pub known_flags: &'static [&'static str],
    pub supported_flags: &'static [&'static str],
}

#[derive(Debug, Serialize)]
pub struct Enabled {
    pub enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct MountExtensions {
    pub idmap: Enabled,
}

/// What husk implements.
pub fn features() -> Features {
    let mut capabilities: Vec<caps::Capability> = caps::all().into_iter().collect();
    capabilities.sort_by_key(|cap| cap.index());
    Features {
        oci_version_min: OCI_VERSION_MIN,
        oci_version_max: OCI_VERSION,
        hooks: HOOKS,
        mount_options: MOUNT_OPTIONS,
        linux: LinuxFeatures {
            namespaces: NAMESPACES,
            capabilities: capabilities.iter().map(ToString::to_string).collect(),
            cgroup: CgroupFeatures {
                v1: false,
                v2: true,
                systemd: false,
                systemd_user: false,
                rdma: true,
            },
            seccomp: SeccompFeatures {
                enabled: true,
                actions: SECCOMP_ACTIONS,
                operators: SECCOMP_OPERATORS,
                archs: SECCOMP_ARCHS,
                known_flags: SECCOMP_FLAGS,
                supported_flags: SECCOMP_FLAGS,
            },
            apparmor: Enabled { enabled: false },
            selinux: Enabled { enabled: false },
            mount_extensions: MountExtensions {
                idmap: Enabled { enabled: false },
            },
        },
        annotations: BTreeMap::from([("io.husk.version", env!("CARGO_PKG_VERSION"))]),
    }
}

/// What `husk features` prints: runc's `json.MarshalIndent(feat, "", "    ")`.
pub fn features_json() -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    features()
        .serialize(&mut ser)
        .expect("features always serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_as_the_runtime_spec_features_type() {
        let parsed: oci_spec::runtime::Features = serde_json::from_str(&features_json()).unwrap();
        assert_eq!(parsed.oci_version_min(), OCI_VERSION_MIN);
        assert_eq!(parsed.oci_version_max(), OCI_VERSION);
        let linux = parsed.linux().as_ref().unwrap();
        assert!(linux
            .namespaces()
            .as_ref()
            .unwrap()
            .contains(&oci_spec::runtime::LinuxNamespaceType::Time));
        assert_eq!(linux.cgroup().as_ref().unwrap().v2(), &Some(true));
    }

    #[test]
    fn lists_every_capability_the_kernel_api_knows_in_number_order() {
        let doc = serde_json::to_value(features()).unwrap();
        let caps = doc["linux"]["capabilities"].as_array().unwrap();
        assert_eq!(caps.len(), caps::all().len());
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.contains(&json!("CAP_CHECKPOINT_RESTORE")));
    }

    #[test]
    fn containerd_cri_gating_fields() {
        let doc = serde_json::to_value(features()).unwrap();
        assert!(doc["mountOptions"]
            .as_array()
            .unwrap()
            .contains(&json!("rro")));
        assert!(doc["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("user")));
        assert_eq!(
            doc["linux"]["mountExtensions"]["idmap"]["enabled"],
            json!(false)
        );
        assert!(features_json().starts_with("{\n    \"ociVersionMin\": \"1.0.0\",\n"));
    }
}
