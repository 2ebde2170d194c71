//! `spec`: writes runc's default config.json (`libcontainer/specconv/example.go`, as `runc spec`
//! 1.1 prints it: same fields, same order, tab indent, no trailing newline) into the bundle.
//! `--rootless` applies runc's `ToRootless`.
use std::io::{ErrorKind, Write};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use crate::cli::SpecArgs;

pub fn run(args: &SpecArgs) -> Result<i32> {
    let mut spec = default_spec();
    if args.rootless {
        make_rootless(
            &mut spec,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
    }
    let path = args.bundle.join("config.json");
    let mut file = match std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            bail!("File config.json exists. Remove it first")
        }
        Err(err) => return Err(err).with_context(|| format!("create {}", path.display())),
    };
    file.write_all(to_json(&spec).as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(0)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    oci_version: &'static str,
    process: Process,
    root: Root,
    hostname: &'static str,
    mounts: Vec<Mount>,
    linux: Linux,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    terminal: bool,
    user: User,
    args: [&'static str; 1],
    env: [&'static str; 2],
    cwd: &'static str,
    capabilities: Capabilities,
    rlimits: [Rlimit; 1],
    no_new_privileges: bool,
}

#[derive(Debug, Serialize)]
struct User {
    uid: u32,
    gid: u32,
}

#[derive(Debug, Serialize)]
struct Capabilities {
    bounding: &'static [&'static str],
    effective: &'static [&'static str],
    permitted: &'static [&'static str],
    ambient: &'static [&'static str],
}

#[derive(Debug, Serialize)]
struct Rlimit {
    #[serde(rename = "type")]
    typ: &'static str,
    hard: u64,
    soft: u64,
}

#[derive(Debug, Serialize)]
struct Root {
    path: &'static str,
    readonly: bool,
}

#[derive(Debug, Serialize)]
struct Mount {
    destination: &'static str,
    #[serde(rename = "type")]
    typ: &'static str,
    source: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Linux {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    uid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Resources>,
    namespaces: Vec<Namespace>,
    masked_paths: &'static [&'static str],
    readonly_paths: &'static [&'static str],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct IdMapping {
    #[serde(rename = "containerID")]
    container_id: u32,
    #[serde(rename = "hostID")]
    host_id: u32,
    size: u32,
}

#[derive(Debug, Serialize)]
struct Resources {
    devices: [DeviceRule; 1],
}

#[derive(Debug, Serialize)]
struct DeviceRule {
    allow: bool,
    access: &'static str,
}

#[derive(Debug, Serialize)]
struct Namespace {
    #[serde(rename = "type")]
    typ: &'static str,
}

const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

fn mount(
    destination: &'static str,
    typ: &'static str,
    source: &'static str,
    options: &[&'static str],
) -> Mount {
    Mount {
        destination,
        typ,
        source,
        options: options.to_vec(),
    }
}

fn default_spec() -> Spec {
    Spec {
        oci_version: husk_oci::OCI_VERSION,
        process: Process {
            terminal: true,
            user: User { uid: 0, gid: 0 },
            args: ["sh"],
            env: [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            cwd: "/",
            capabilities: Capabilities {
                bounding: DEFAULT_CAPS,
                effective: DEFAULT_CAPS,
                permitted: DEFAULT_CAPS,
                ambient: DEFAULT_CAPS,
            },
            rlimits: [Rlimit {
                typ: "RLIMIT_NOFILE",
                hard: 1024,
                soft: 1024,
            }],
            no_new_privileges: true,
        },
        root: Root {
            path: "rootfs",
            readonly: true,
        },
        hostname: "husk",
        mounts: vec![
            mount("/proc", "proc", "proc", &[]),
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                &["nosuid", "noexec", "nodev"],
            ),
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
            mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "relatime", "ro"],
            ),
        ],
        linux: Linux {
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
            resources: Some(Resources {
                devices: [DeviceRule {
                    allow: false,
                    access: "rwm",
                }],
            }),
            // runc adds the cgroup namespace on cgroup v2 hosts, the only kind husk runs on.
            namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"]
                .map(|typ| Namespace { typ })
                .into(),
            masked_paths: &[
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            readonly_paths: &[
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }
}

/// runc's `specconv.ToRootless`: no network namespace, a user namespace mapping the caller to root,
/// /sys bind-mounted from the host, no uid=/gid= mount options, no cgroup resources.
fn make_rootless(spec: &mut Spec, euid: u32, egid: u32) {
    let linux = &mut spec.linux;
    linux
        .namespaces
        .retain(|ns| !matches!(ns.typ, "network" | "user"));
    linux.namespaces.push(Namespace { typ: "user" });
    linux.uid_mappings = vec![IdMapping {
        container_id: 0,
        host_id: euid,
        size: 1,
    }];
    linux.gid_mappings = vec![IdMapping {
        container_id: 0,
        host_id: egid,
        size: 1,
    }];
    linux.resources = None;
    for m in &mut spec.mounts {
        if m.destination == "/sys" {
            *m = mount(
                "/sys",
                "none",
                "/sys",
                &["rbind", "nosuid", "noexec", "nodev", "ro"],
            );
        }
        m.options
            .retain(|o| !o.starts_with("uid=") && !o.starts_with("gid="));
    }
}

/// `json.MarshalIndent(spec, "", "\t")`.
fn to_json(spec: &Spec) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    spec.serialize(&mut ser).expect("spec serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_loads_as_a_valid_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let args = SpecArgs {
            bundle: dir.path().into(),
            rootless: false,
        };
        run(&args).unwrap();
        let bundle = husk_oci::Bundle::load(dir.path()).unwrap();
        let linux = bundle.spec.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 6);
        assert_eq!(bundle.spec.mounts().as_ref().unwrap().len(), 7);
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.starts_with(
            "{\n\t\"ociVersion\": \"1.2.1\",\n\t\"process\": {\n\t\t\"terminal\": true,"
        ));
        assert!(text.ends_with("\n}"));
        // The same fields in the same order as `runc spec` 1.1.5.
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("\t\""))
            .map(|l| l.split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "ociVersion",
                "process",
                "root",
                "hostname",
                "mounts",
                "linux"
            ]
        );

        let err = run(&args).unwrap_err().to_string();
        assert_eq!(err, "File config.json exists. Remove it first");
    }

    #[test]
    fn rootless_spec_maps_the_caller_and_loads() {
        let mut spec = default_spec();
        make_rootless(&mut spec, 1000, 1001);
        let value: serde_json::Value = serde_json::from_str(&to_json(&spec)).unwrap();
        let types: Vec<&str> = value["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["pid", "ipc", "uts", "mount", "cgroup", "user"]);
        assert_eq!(
            value["linux"]["uidMappings"][0],
            serde_json::json!({"containerID": 0, "hostID": 1000, "size": 1})
        );
        assert_eq!(value["linux"]["gidMappings"][0]["hostID"], 1001);
        assert!(value["linux"].get("resources").is_none());
        assert_eq!(value["mounts"][5]["source"], "/sys");
        assert!(!value["mounts"][2]["options"]
            .as_array()
            .unwrap()
            .contains(&"gid=5".into()));

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), to_json(&spec)).unwrap();
        husk_oci::Bundle::load(dir.path()).unwrap();
    }
}
