//! linux.resources.devices on cgroup v2: no controller file, an eBPF program attached to the cgroup
//! (cgroup-v2.rst "Device controller"; runtime-contract §3.7).

mod bpf;
mod program;

use std::os::fd::AsFd;

use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::error::CgroupError;
use crate::manager::Cgroup;

/// The devices every runc container may use, appended after the spec's rules (runc
/// libcontainer/specconv AllowedDevices): mknod of any char or block device, /dev/null, random,
/// full, tty, zero, urandom, the ptys (136:*) and /dev/ptmx. A default whose path the spec lists in
/// linux.devices is left out: the spec's entry takes priority.
struct AllowedDevice {
    /// The device node the rule is for, if it names one.
    path: Option<&'static str>,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &'static str,
}

const fn allowed(
    path: Option<&'static str>,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &'static str,
) -> AllowedDevice {
    AllowedDevice {
        path,
        typ,
        major,
        minor,
        access,
    }
}

const RUNC_ALLOWED: [AllowedDevice; 10] = [
    allowed(None, LinuxDeviceType::C, None, None, "m"),
    allowed(None, LinuxDeviceType::B, None, None, "m"),
    allowed(
        Some("/dev/null"),
        LinuxDeviceType::C,
        Some(1),
        Some(3),
        "rwm",
    ),
    allowed(
        Some("/dev/random"),
        LinuxDeviceType::C,
        Some(1),
        Some(8),
        "rwm",
    ),
    allowed(
        Some("/dev/full"),
        LinuxDeviceType::C,
        Some(1),
        Some(7),
        "rwm",
    ),
    allowed(
        Some("/dev/tty"),
        LinuxDeviceType::C,
        Some(5),
        Some(0),
        "rwm",
    ),
    allowed(
        Some("/dev/zero"),
        LinuxDeviceType::C,
        Some(1),
        Some(5),
        "rwm",
    ),
    allowed(
        Some("/dev/urandom"),
        LinuxDeviceType::C,
        Some(1),
        Some(9),
        "rwm",
    ),
    allowed(None, LinuxDeviceType::C, Some(136), None, "rwm"),
    allowed(None, LinuxDeviceType::C, Some(5), Some(2), "rwm"),
];

/// The device rules runc applies for a container (libcontainer/specconv CreateCgroupConfig):
/// linux.resources.devices, then `rwm` for every node in linux.devices, then the defaults above.
/// Engines send only "deny all" plus their extras and rely on this list: without it a container
/// cannot open /dev/null or /dev/ptmx.
pub fn device_rules(linux: &Linux) -> Vec<LinuxDeviceCgroup> {
    let mut rules: Vec<LinuxDeviceCgroup> = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let nodes = linux.devices().as_deref().unwrap_or_default();
    for node in nodes {
        rules.push(allow_rule(
            node.typ(),
            Some(node.major()),
            Some(node.minor()),
            "rwm",
        ));
    }
    let listed = |path: &str| nodes.iter().any(|d| d.path().as_os_str() == path);
    for d in RUNC_ALLOWED {
        if !d.path.is_some_and(listed) {
            rules.push(allow_rule(d.typ, d.major, d.minor, d.access));
        }
    }
    rules
}

/// `linux.resources` as the cgroup gets it: the spec's resources with the full device rule list.
pub fn container_resources(linux: Option<&Linux>) -> LinuxResources {
    let Some(linux) = linux else {
        let mut resources = LinuxResources::default();
        resources.set_devices(Some(device_rules(&Linux::default())));
        return resources;
    };
    let mut resources = linux.resources().clone().unwrap_or_default();
    resources.set_devices(Some(device_rules(linux)));
    resources
}

fn allow_rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut rule = LinuxDeviceCgroup::default();
    rule.set_allow(true)
        .set_typ(Some(typ))
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.to_owned()));
    rule
}

/// Compiles `rules`, loads the program and attaches it to `cgroup`. When the cgroup was
/// not `fresh`, the programs attached before are detached after the new one is in place, so there
/// is no moment without a filter. No rules: nothing is installed.
pub(crate) fn apply(
    cgroup: &Cgroup,
    rules: &[LinuxDeviceCgroup],
    fresh: bool,
) -> Result<(), CgroupError> {
    if rules.is_empty() {
        return Ok(());
    }
    let dir = cgroup.dir();
    let prog = program::compile(rules)?;
    let prog_fd = bpf::load(&prog, dir)?;
    let cgroup_fd = cgroup.fd()?;
    let old = if fresh {
        Vec::new()
    } else {
        bpf::attached(cgroup_fd, dir)?
    };
    bpf::attach(cgroup_fd, prog_fd.as_fd(), dir)?;
    if !old.is_empty() {
        let new_id = bpf::id_of(prog_fd.as_fd(), dir)?;
        for id in old.into_iter().filter(|id| *id != new_id) {
            bpf::detach(cgroup_fd, id, dir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBuilder, LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxResourcesBuilder,
    };
    use std::path::Path;

    #[test]
    fn device_rules_append_runc_defaults_minus_listed_paths() {
        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        let resources = LinuxResourcesBuilder::default()
            .devices(vec![deny_all.clone()])
            .build()
            .unwrap();
        let null = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .build()
            .unwrap();
        let linux = LinuxBuilder::default()
            .resources(resources)
            .devices(vec![null])
            .build()
            .unwrap();
        let rules = device_rules(&linux);
        assert_eq!(rules.len(), 1 + 1 + 9);
        assert_eq!(rules[0], deny_all);
        let text: Vec<String> = rules.iter().map(ToString::to_string).collect();
        // The listed node gets its own rwm rule, in place of the default for the same path.
        assert_eq!(text[1], "c 1:3 rwm", "{text:?}");
        assert_eq!(
            text.iter().filter(|r| r.contains("1:3")).count(),
            1,
            "{text:?}"
        );
        assert!(text.contains(&"c 136:* rwm".to_owned()), "{text:?}");
        // No linux section content at all: just the defaults.
        assert_eq!(device_rules(&Linux::default()).len(), 10);
        let resources = container_resources(None);
        assert_eq!(resources.devices().as_ref().map(Vec::len), Some(10));
    }

    /// The kernel's verifier accepts the program (loading needs no cgroup and no controller).
    #[test]
    fn the_kernel_loads_the_program() {
        let rules = [
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1i64)
                .minor(3i64)
                .access("rw")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::B)
                .access("m")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .typ(LinuxDeviceType::C)
                .major(1i64)
                .minor(3i64)
                .access("w")
                .build()
                .unwrap(),
        ];
        let prog = program::compile(&rules).unwrap();
        let fd = bpf::load(&prog, Path::new("/test")).unwrap();
        assert!(bpf::id_of(fd.as_fd(), Path::new("/test")).unwrap() > 0);
    }

    /// Every shape the compiler makes passes the verifier: no unreachable instruction, every
    /// path ends in an exit. The default list, an empty one, and random lists.
    #[test]
    fn the_kernel_loads_every_program_shape() {
        let mut lists = vec![device_rules(&Linux::default()), Vec::new()];
        let mut random = program::random::Random(0x2545_f491_4f6c_dd1d);
        lists.extend((0..300).map(|_| random.rules()));
        for rules in lists {
            let prog = program::compile(&rules).unwrap();
            if let Err(err) = bpf::load(&prog, Path::new("/test")) {
                let text: Vec<String> = rules.iter().map(ToString::to_string).collect();
                panic!("{err} for {text:?}");
            }
        }
    }
}
