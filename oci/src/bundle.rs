//! Loading a bundle: one read and one parse of `<bundle>/config.json`, a small repair pass on the raw
//! JSON, conversion to [`Spec`], and the checks the runtime spec requires (config.md,
//! config-linux.md) that oci-spec does not make.
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, LinuxNamespaceType, Spec};
use serde::Deserialize;
use serde_json::Value;

use crate::OciError;

/// A loaded, validated bundle.
#[derive(Debug)]
pub struct Bundle {
    /// Absolute bundle directory (not canonicalized, as runc's `filepath.Abs`).
    pub dir: PathBuf,
    /// `<dir>/config.json`.
    pub config_path: PathBuf,
    /// Absolute rootfs path: `root.path` resolved against [`Bundle::dir`].
    pub rootfs: PathBuf,
    /// Boxed: a Spec is 3 KB, and each move of one on the start path costs stack pages.
    pub spec: Box<Spec>,
    /// Things runc warns about and continues, e.g. `unknown capability CAP_X`; the caller prints them.
    pub warnings: Vec<String>,
}

impl Bundle {
    /// Reads and validates `<dir>/config.json` for `create`/`run`.
    pub fn load(dir: &Path) -> Result<Bundle, OciError> {
        let dir = std::path::absolute(dir).map_err(|error| OciError::Io {
            path: dir.into(),
            error,
        })?;
        let config_path = dir.join("config.json");
        let bytes = std::fs::read(&config_path).map_err(|error| OciError::Io {
            path: config_path.clone(),
            error,
        })?;
        let (spec, warnings) = parse_config(&bytes, &config_path)?;
        let invalid = |field: &str, message: String| OciError::Invalid {
            path: config_path.clone(),
            field: field.to_string(),
            message,
        };
        validate(&spec).map_err(|(field, message)| invalid(&field, message))?;
        let rootfs = dir.join(
            spec.root()
                .as_ref()
                .map(|r| r.path().as_path())
                .unwrap_or(Path::new("")),
        );
        check_rootfs(&rootfs)?;
        Ok(Bundle {
            dir,
            config_path,
            rootfs,
            spec,
            warnings,
        })
    }
}

/// config.json straight into a Spec; only when that fails, again through a JSON value, which tells
/// malformed JSON from a schema error and drops capability names oci-spec does not know.
fn parse_config(bytes: &[u8], config_path: &Path) -> Result<(Box<Spec>, Vec<String>), OciError> {
    if let Ok(spec) = serde_json::from_slice::<Box<Spec>>(bytes) {
        return Ok((spec, Vec::new()));
    }
    let mut raw: Value = serde_json::from_slice(bytes).map_err(|error| OciError::Json {
        path: config_path.into(),
        error,
    })?;
    let warnings = drop_unknown_capabilities(&mut raw);
    let spec = Box::<Spec>::deserialize(raw).map_err(|error| OciError::Schema {
        path: config_path.into(),
        error,
    })?;
    Ok((spec, warnings))
}

fn check_rootfs(rootfs: &Path) -> Result<(), OciError> {
    let message = match std::fs::metadata(rootfs) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => "not a directory".to_string(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "no such directory".to_string(),
        Err(err) => crate::error::io_text(&err),
    };
    Err(OciError::Invalid {
        path: rootfs.into(),
        field: "root.path".into(),
        message,
    })
}

/// oci-spec rejects the whole config on a capability name it does not know; runc warns and ignores
/// it. Removes such names from every `process.capabilities` set and returns one warning per name.
fn drop_unknown_capabilities(raw: &mut Value) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(sets) = raw
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    else {
        return warnings;
    };
    for set in sets.values_mut() {
        let Some(names) = set.as_array_mut() else {
            continue;
        };
        names.retain(|name| {
            let known = Capability::deserialize(name).is_ok();
            if !known {
                let shown = name
                    .as_str()
                    .map_or_else(|| name.to_string(), str::to_string);
                let warning = format!("unknown capability {shown}");
                if !warnings.contains(&warning) {
                    warnings.push(warning);
                }
            }
            known
        });
    }
    warnings
}

type Violation = (String, String);

fn violation(field: impl Into<String>, message: impl Into<String>) -> Violation {
    (field.into(), message.into())
}

/// The runtime-spec rules for a Linux container, first violation wins.
fn validate(spec: &Spec) -> Result<(), Violation> {
    check_oci_version(spec.version())?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| violation("root", "required"))?;
    if root.path().as_os_str().is_empty() {
        return Err(violation("root.path", "required"));
    }
    check_process(spec)?;
    check_mounts(spec)?;
    check_linux(spec)
}

/// config.md "Specification version": SemVer 2.0.0; husk implements major version 1.
fn check_oci_version(version: &str) -> Result<(), Violation> {
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let core = version.split('+').next().unwrap_or_default();
    let core = core
        .split_once('-')
        .map_or(core, |(core, pre)| if pre.is_empty() { "" } else { core });
    let parts: Vec<&str> = core.split('.').collect();
    let is_semver = parts.len() == 3 && parts.iter().all(|p| is_number(p));
    if !is_semver {
        return Err(violation(
            "ociVersion",
            format!("{version:?} is not a SemVer version"),
        ));
    }
    if parts[0] != "1" {
        return Err(violation(
            "ociVersion",
            format!("{version:?} is not supported (want 1.x)"),
        ));
    }
    Ok(())
}

fn check_process(spec: &Spec) -> Result<(), Violation> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| violation("process", "required"))?;
    if process.args().as_ref().is_none_or(Vec::is_empty) {
        return Err(violation("process.args", "must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(violation(
            "process.cwd",
            format!("{:?} is not an absolute path", process.cwd()),
        ));
    }
    // config.md "POSIX process": duplicate rlimit types are an error.
    let rlimits = process.rlimits().as_deref().unwrap_or_default();
    for (i, rlimit) in rlimits.iter().enumerate() {
        if rlimits[..i]
            .iter()
            .any(|earlier| earlier.typ() == rlimit.typ())
        {
            return Err(violation(
                "process.rlimits",
                format!("duplicate type {}", rlimit.typ()),
            ));
        }
    }
    Ok(())
}

/// config.md "Mounts": on Linux the destination must be absolute.
fn check_mounts(spec: &Spec) -> Result<(), Violation> {
    for (i, mount) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !mount.destination().is_absolute() {
            return Err(violation(
                format!("mounts[{i}].destination"),
                format!("{:?} is not an absolute path", mount.destination()),
            ));
        }
    }
    Ok(())
}

fn check_linux(spec: &Spec) -> Result<(), Violation> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    for (i, ns) in namespaces.iter().enumerate() {
        // config-linux.md "Namespaces": duplicates are an error; a path must be absolute.
        if namespaces[..i]
            .iter()
            .any(|earlier| earlier.typ() == ns.typ())
        {
            return Err(violation(
                "linux.namespaces",
                format!("duplicate namespace type {}", ns_name(ns.typ())),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(violation(
                    format!("linux.namespaces[{i}].path"),
                    format!("{path:?} is not an absolute path"),
                ));
            }
        }
    }
    let new_user_ns = namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none());
    if new_user_ns {
        // config-linux.md "User namespace mappings": a new user namespace needs both mappings.
        if linux.uid_mappings().as_ref().is_none_or(Vec::is_empty) {
            return Err(violation(
                "linux.uidMappings",
                "required when creating a user namespace",
            ));
        }
        if linux.gid_mappings().as_ref().is_none_or(Vec::is_empty) {
            return Err(violation(
                "linux.gidMappings",
                "required when creating a user namespace",
            ));
        }
    }
    Ok(())
}

/// The config.json spelling of a namespace type.
fn ns_name(typ: LinuxNamespaceType) -> String {
    serde_json::to_value(typ)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A minimal valid config, edited per test.
    fn base() -> Value {
        json!({
            "ociVersion": "1.0.2-dev",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn bundle_with(config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    fn load_err(config: Value) -> (String, tempfile::TempDir) {
        let dir = bundle_with(&config.to_string());
        let err = Bundle::load(dir.path()).unwrap_err().to_string();
        (err, dir)
    }

    fn assert_rejected(config: Value, expected_suffix: &str) {
        let (err, dir) = load_err(config);
        let expected = format!("{}/config.json: {expected_suffix}", dir.path().display());
        assert_eq!(err, expected);
    }

    #[test]
    fn loads_a_valid_bundle_with_absolute_paths() {
        let dir = bundle_with(&base().to_string());
        let bundle = Bundle::load(dir.path()).unwrap();
        assert_eq!(bundle.dir, dir.path());
        assert_eq!(bundle.rootfs, dir.path().join("rootfs"));
        assert_eq!(bundle.config_path, dir.path().join("config.json"));
        assert!(bundle.warnings.is_empty());
        assert_eq!(
            bundle
                .spec
                .process()
                .as_ref()
                .unwrap()
                .args()
                .as_ref()
                .unwrap(),
            &["sh"]
        );
    }

    #[test]
    fn missing_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Bundle::load(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}/config.json: no such file or directory",
                dir.path().display()
            )
        );
    }

    #[test]
    fn malformed_json_names_the_file_and_position() {
        let dir = bundle_with("x{");
        let err = Bundle::load(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}/config.json: invalid JSON: expected value at line 1 column 1",
                dir.path().display()
            )
        );
    }

    #[test]
    fn wrong_types_are_schema_errors() {
        let mut config = base();
        config["process"]["args"] = json!("sh");
        let (err, _dir) = load_err(config);
        assert!(
            err.contains("/config.json: invalid config: invalid type: string"),
            "{err}"
        );
    }

    #[test]
    fn oci_version_must_be_semver_1x() {
        for good in ["1.0.0", "1.0.2-dev", "1.2.1", "1.0.0-rc5+build.1"] {
            let mut config = base();
            config["ociVersion"] = json!(good);
            let dir = bundle_with(&config.to_string());
            assert!(Bundle::load(dir.path()).is_ok(), "{good}");
        }
        let mut config = base();
        config["ociVersion"] = json!("banana");
        assert_rejected(config, "ociVersion: \"banana\" is not a SemVer version");
        let mut config = base();
        config["ociVersion"] = json!("2.0.0");
        assert_rejected(config, "ociVersion: \"2.0.0\" is not supported (want 1.x)");
        let mut config = base();
        config["ociVersion"] = json!("1.0-");
        assert_rejected(config, "ociVersion: \"1.0-\" is not a SemVer version");
    }

    #[test]
    fn root_is_required_and_must_exist() {
        let mut config = base();
        config.as_object_mut().unwrap().remove("root");
        assert_rejected(config, "root: required");

        let mut config = base();
        config["root"]["path"] = json!("missing");
        let (err, dir) = load_err(config);
        assert_eq!(
            err,
            format!(
                "{}/missing: root.path: no such directory",
                dir.path().display()
            )
        );

        let mut config = base();
        config["root"]["path"] = json!("config.json");
        let (err, dir) = load_err(config);
        assert_eq!(
            err,
            format!(
                "{}/config.json: root.path: not a directory",
                dir.path().display()
            )
        );
    }

    #[test]
    fn absolute_root_path_is_used_as_is() {
        let rootfs = tempfile::tempdir().unwrap();
        let mut config = base();
        config["root"]["path"] = json!(rootfs.path());
        let dir = bundle_with(&config.to_string());
        assert_eq!(Bundle::load(dir.path()).unwrap().rootfs, rootfs.path());
    }

    #[test]
    fn process_rules() {
        let mut config = base();
        config.as_object_mut().unwrap().remove("process");
        assert_rejected(config, "process: required");

        let mut config = base();
        config["process"]["args"] = json!([]);
        assert_rejected(config, "process.args: must not be empty");

        let mut config = base();
        config["process"]["cwd"] = json!("relative/dir");
        assert_rejected(
            config,
            "process.cwd: \"relative/dir\" is not an absolute path",
        );

        let mut config = base();
        config["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10},
            {"type": "RLIMIT_NPROC", "hard": 10, "soft": 10},
            {"type": "RLIMIT_NOFILE", "hard": 20, "soft": 20}
        ]);
        assert_rejected(config, "process.rlimits: duplicate type RLIMIT_NOFILE");
    }

    #[test]
    fn mount_destinations_must_be_absolute() {
        let mut config = base();
        config["mounts"][0]["destination"] = json!("proc");
        assert_rejected(
            config,
            "mounts[0].destination: \"proc\" is not an absolute path",
        );
    }

    #[test]
    fn namespace_rules() {
        let mut config = base();
        config["linux"]["namespaces"] =
            json!([{"type": "network"}, {"type": "network", "path": "/x"}]);
        assert_rejected(config, "linux.namespaces: duplicate namespace type network");

        let mut config = base();
        config["linux"]["namespaces"] = json!([{"type": "network", "path": "proc/1/ns/net"}]);
        assert_rejected(
            config,
            "linux.namespaces[0].path: \"proc/1/ns/net\" is not an absolute path",
        );
    }

    #[test]
    fn new_user_namespace_needs_mappings() {
        let mapping = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        let mut config = base();
        config["linux"]["namespaces"] = json!([{"type": "user"}]);
        assert_rejected(
            config.clone(),
            "linux.uidMappings: required when creating a user namespace",
        );
        config["linux"]["uidMappings"] = mapping.clone();
        assert_rejected(
            config.clone(),
            "linux.gidMappings: required when creating a user namespace",
        );
        config["linux"]["gidMappings"] = mapping;
        let dir = bundle_with(&config.to_string());
        assert!(Bundle::load(dir.path()).is_ok());

        // Joining an existing user namespace needs no mappings.
        let mut config = base();
        config["linux"]["namespaces"] = json!([{"type": "user", "path": "/proc/1/ns/user"}]);
        let dir = bundle_with(&config.to_string());
        assert!(Bundle::load(dir.path()).is_ok());
    }

    #[test]
    fn unknown_capabilities_are_dropped_with_a_warning() {
        let mut config = base();
        config["process"]["capabilities"] = json!({
            "bounding": ["CAP_KILL", "CAP_NOT_REAL", "CAP_CHOWN"],
            "effective": ["CAP_NOT_REAL"],
        });
        let dir = bundle_with(&config.to_string());
        let bundle = Bundle::load(dir.path()).unwrap();
        assert_eq!(bundle.warnings, ["unknown capability CAP_NOT_REAL"]);
        let caps = bundle
            .spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        let bounding = caps.bounding().as_ref().unwrap();
        assert_eq!(bounding.len(), 2);
        assert!(bounding.contains(&Capability::Kill) && bounding.contains(&Capability::Chown));
        assert!(caps.effective().as_ref().unwrap().is_empty());
    }

    #[test]
    fn loads_every_engine_fixture() {
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/engine-configs");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&fixtures).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".config.json") {
                continue;
            }
            // Point root.path at a rootfs we create; everything else is the engine's config.
            let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            config["root"]["path"] = json!("rootfs");
            let dir = bundle_with(&config.to_string());
            let bundle =
                Bundle::load(dir.path()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                bundle.warnings.is_empty(),
                "{}: {:?}",
                path.display(),
                bundle.warnings
            );
            loaded += 1;
        }
        assert!(
            loaded >= 7,
            "only {loaded} fixtures found in {}",
            fixtures.display()
        );
    }
}
