//! The device rules husk gives the cgroup, as runc's specconv builds them (`CreateCgroupConfig`):
//! the config's `linux.resources.devices`, then `rwm` for every `linux.devices` node, then runc's
//! `AllowedDevices` (mknod of anything; null, zero, full, random, urandom, tty, pts, ptmx, tun).
//! Engines send only "deny all" plus their extras and rely on this list: without it the container
//! cannot open /dev/null or /dev/ptmx.
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

/// (type, major, minor, access); None is the `*` wildcard.
const ALLOWED_DEVICES: [(LinuxDeviceType, Option<i64>, Option<i64>, &str); 11] = [
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"), // /dev/null
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"), // /dev/random
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"), // /dev/full
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"), // /dev/tty
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"), // /dev/zero
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"), // /dev/urandom
    (LinuxDeviceType::C, Some(136), None, "rwm"),  // /dev/pts/*
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"), // /dev/ptmx
    (LinuxDeviceType::C, Some(10), Some(200), "rwm"), // /dev/net/tun
];

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true);
    rule.set_typ(Some(typ));
    rule.set_major(major);
    rule.set_minor(minor);
    rule.set_access(Some(access.to_string()));
    rule
}

/// `linux.resources` with the full device rule list.
pub fn cgroup_resources(spec: &Spec) -> LinuxResources {
    let linux = spec.linux().as_ref();
    let mut resources = linux
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let mut rules = resources.devices_mut().take().unwrap_or_default();
    for device in linux
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default()
    {
        rules.push(rule(
            device.typ(),
            Some(device.major()),
            Some(device.minor()),
            "rwm",
        ));
    }
    rules.extend(
        ALLOWED_DEVICES
            .iter()
            .map(|&(typ, major, minor, access)| rule(typ, major, minor, access)),
    );
    resources.set_devices(Some(rules));
    resources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rules_come_first_then_config_devices_then_runc_defaults() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {
                "resources": {
                    "devices": [{"allow": false, "access": "rwm"}],
                    "pids": {"limit": 10}
                },
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
            }
        }))
        .unwrap();
        let resources = cgroup_resources(&spec);
        assert_eq!(resources.pids().as_ref().unwrap().limit(), 10);
        let rules = resources.devices().as_ref().unwrap();
        assert_eq!(rules.len(), 2 + ALLOWED_DEVICES.len());
        assert!(!rules[0].allow());
        assert_eq!((rules[1].major(), rules[1].minor()), (Some(10), Some(229)));
        assert!(rules[1..].iter().all(|r| r.allow()));
        let ptmx = rule(LinuxDeviceType::C, Some(5), Some(2), "rwm");
        assert!(rules.contains(&ptmx));
    }

    #[test]
    fn a_config_without_resources_still_gets_the_defaults() {
        let resources = cgroup_resources(&Spec::default());
        assert_eq!(
            resources.devices().as_ref().unwrap().len(),
            ALLOWED_DEVICES.len()
        );
    }
}
