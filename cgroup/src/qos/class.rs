//! Which QoS class a container is in, and why: the husk annotation, then what kubelet leaves in the
//! config (cgroupsPath, oomScoreAdj), then the shape of the resources (runtime-contract §4.1, §4.2).

use std::fmt;

use oci_spec::runtime::{LinuxResources, Spec};
use serde::Serialize;

use super::error::QosError;

/// Forces the class: guaranteed | burstable | besteffort.
pub const CLASS_ANNOTATION: &str = "io.husk.qos.class";
/// The container's memory request in bytes (no CRI field carries it).
pub const MEMORY_REQUEST_ANNOTATION: &str = "io.husk.qos.memory-request";

/// kubelet's oom_score_adj for Guaranteed and BestEffort pods (pkg/kubelet/qos/policy.go);
/// Burstable gets 1000 - 1000*request/capacity clamped to 2..=999.
const GUARANTEED_OOM_SCORE_ADJ: i32 = -998;
const BESTEFFORT_OOM_SCORE_ADJ: i32 = 1000;
/// kubelet's MinShares: a BestEffort container's cpu.shares.
const MIN_SHARES: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    pub fn name(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "guaranteed",
            QosClass::Burstable => "burstable",
            QosClass::BestEffort => "besteffort",
        }
    }
}

impl fmt::Display for QosClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The rule that decided the class, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Annotation,
    KubepodsPath,
    OomScoreAdj,
    Resources,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::Annotation => "annotation",
            Rule::KubepodsPath => "kubepods cgroupsPath",
            Rule::OomScoreAdj => "oomScoreAdj",
            Rule::Resources => "resources",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub class: QosClass,
    pub rule: Rule,
    /// One line saying what in the config decided, e.g. `cgroupsPath "/kubepods/burstable/..." is
    /// under kubepods/burstable`.
    pub reason: String,
    /// From the memory-request annotation, else linux.resources.memory.reservation; None when
    /// neither is set.
    pub memory_request: Option<u64>,
}

/// The first rule that decides wins: annotation, kubepods cgroupsPath, kubelet's oomScoreAdj, the
/// resources. Fails only on an invalid husk annotation.
pub fn classify(spec: &Spec) -> Result<Classification, QosError> {
    let annotations = spec.annotations().as_ref();
    let annotation = |key| annotations.and_then(|a| a.get(key)).map(String::as_str);
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let memory_request = memory_request(annotation(MEMORY_REQUEST_ANNOTATION), resources)?;
    let (class, rule, reason) = if let Some(value) = annotation(CLASS_ANNOTATION) {
        let class = parse_class(value)?;
        let reason = format!("annotation {CLASS_ANNOTATION}={value}");
        (class, Rule::Annotation, reason)
    } else if let Some((class, reason)) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .and_then(|p| from_kubepods_path(&p.to_string_lossy()))
    {
        (class, Rule::KubepodsPath, reason)
    } else if let Some((class, adj)) = spec
        .process()
        .as_ref()
        .and_then(|p| p.oom_score_adj())
        .and_then(|adj| Some((from_oom_score_adj(adj)?, adj)))
    {
        let reason = format!("process.oomScoreAdj {adj} is kubelet's value for {class}");
        (class, Rule::OomScoreAdj, reason)
    } else {
        let (class, reason) = from_resources(resources, memory_request);
        (class, Rule::Resources, reason)
    };
    Ok(Classification {
        class,
        rule,
        reason,
        memory_request,
    })
}

fn parse_class(value: &str) -> Result<QosClass, QosError> {
    match value {
        "guaranteed" => Ok(QosClass::Guaranteed),
        "burstable" => Ok(QosClass::Burstable),
        "besteffort" => Ok(QosClass::BestEffort),
        _ => Err(QosError::Annotation {
            key: CLASS_ANNOTATION,
            value: value.to_owned(),
            reason: "allowed values are guaranteed, burstable, besteffort".into(),
        }),
    }
}

fn memory_request(
    annotation: Option<&str>,
    resources: Option<&LinuxResources>,
) -> Result<Option<u64>, QosError> {
    if let Some(value) = annotation {
        return match value.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(bytes) => Ok(Some(bytes)),
            Err(_) => Err(QosError::Annotation {
                key: MEMORY_REQUEST_ANNOTATION,
                value: value.to_owned(),
                reason: "expected a number of bytes".into(),
            }),
        };
    }
    let reservation = resources
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.reservation());
    Ok(reservation
        .and_then(|r| u64::try_from(r).ok())
        .filter(|r| *r > 0))
}

/// kubelet's QoS parents: cgroupfs `…/kubepods/{besteffort,burstable}/pod<uid>/…` and
/// `…/kubepods/pod<uid>/…` (Guaranteed); systemd `kubepods-{besteffort,burstable}-pod<uid>.slice` and
/// `kubepods-pod<uid>.slice`, both in the `slice:prefix:name` form and expanded into a path
/// (pkg/kubelet/cm/qos_container_manager_linux.go).
fn from_kubepods_path(path: &str) -> Option<(QosClass, String)> {
    let segments: Vec<&str> = path
        .split(['/', ':'])
        .map(|s| s.strip_suffix(".slice").unwrap_or(s))
        .collect();
    let tier = |name: &str| {
        if name.starts_with("besteffort") {
            Some(QosClass::BestEffort)
        } else if name.starts_with("burstable") {
            Some(QosClass::Burstable)
        } else if name.starts_with("pod") {
            Some(QosClass::Guaranteed)
        } else {
            None
        }
    };
    let class = segments.iter().enumerate().find_map(|(i, segment)| {
        if *segment == "kubepods" {
            // cgroupfs: the level below kubepods names the tier; an exact match only, so the
            // systemd form's next level ("kubepods-burstable") is left to the rule below.
            match segments.get(i + 1) {
                Some(&"besteffort") => Some(QosClass::BestEffort),
                Some(&"burstable") => Some(QosClass::Burstable),
                Some(next) if next.starts_with("pod") => Some(QosClass::Guaranteed),
                _ => None,
            }
        } else {
            segment.strip_prefix("kubepods-").and_then(tier)
        }
    })?;
    let reason = match class {
        QosClass::Guaranteed => format!("cgroupsPath {path:?} has a pod directly under kubepods"),
        _ => format!("cgroupsPath {path:?} is under kubepods/{class}"),
    };
    Some((class, reason))
}

fn from_oom_score_adj(adj: i32) -> Option<QosClass> {
    match adj {
        GUARANTEED_OOM_SCORE_ADJ => Some(QosClass::Guaranteed),
        BESTEFFORT_OOM_SCORE_ADJ => Some(QosClass::BestEffort),
        2..=999 => Some(QosClass::Burstable),
        _ => None,
    }
}

/// Kubernetes' definition read from what kubelet sends: BestEffort has no limit, no request and
/// MinShares; Guaranteed has a memory limit (equal to the request when one is known) and a cpu
/// quota whose MilliCPUToShares equals the shares (request == limit).
fn from_resources(
    resources: Option<&LinuxResources>,
    memory_request: Option<u64>,
) -> (QosClass, String) {
    let memory = resources.and_then(|r| r.memory().as_ref());
    let cpu = resources.and_then(|r| r.cpu().as_ref());
    let limit = memory
        .and_then(|m| m.limit())
        .and_then(|l| u64::try_from(l).ok())
        .filter(|l| *l > 0);
    let quota = cpu
        .and_then(|c| c.quota())
        .and_then(|q| u64::try_from(q).ok())
        .filter(|q| *q > 0);
    let period = cpu
        .and_then(|c| c.period())
        .filter(|p| *p > 0)
        .unwrap_or(100_000);
    let shares = cpu.and_then(|c| c.shares()).filter(|s| *s > 0);

    let min_shares = !matches!(shares, Some(s) if s > MIN_SHARES);
    if limit.is_none() && quota.is_none() && memory_request.is_none() && min_shares {
        let reason = match shares {
            Some(s) => format!("no memory limit or request, no cpu quota, cpu shares {s}"),
            None => "no memory limit or request, no cpu quota, no cpu shares".to_owned(),
        };
        return (QosClass::BestEffort, reason);
    }
    if let (Some(limit), Some(quota), Some(shares)) = (limit, quota, shares) {
        let limit_shares = quota_shares(quota, period);
        // kubelet derives quota and shares from the same milliCPU, each rounded down once:
        // quota*1024/period can come out one below the shares (for any period ≥ 1024 µs).
        let cpu_equal = shares == limit_shares || shares == limit_shares + 1;
        let memory_equal = !matches!(memory_request, Some(r) if r != limit);
        if cpu_equal && memory_equal {
            let reason = format!(
                "memory limit {limit}, cpu quota {quota}/{period} with cpu shares {shares} (request == limit)"
            );
            return (QosClass::Guaranteed, reason);
        }
    }
    let mut parts = Vec::new();
    if let Some(l) = limit {
        parts.push(format!("memory limit {l}"));
    }
    if let Some(r) = memory_request {
        parts.push(format!("memory request {r}"));
    }
    match quota {
        Some(q) => parts.push(format!("cpu quota {q}/{period}")),
        None => parts.push("no cpu quota".to_owned()),
    }
    if let Some(s) = shares {
        parts.push(format!("cpu shares {s}"));
    }
    let reason = format!("{}: requests below limits", parts.join(", "));
    (QosClass::Burstable, reason)
}

/// The cpu.shares kubelet's MilliCPUToShares gives for the cpu limit behind a quota:
/// milli = quota*1000/period, shares = max(2, milli*1024/1000).
fn quota_shares(quota: u64, period: u64) -> u64 {
    let shares = u128::from(quota) * 1024 / u128::from(period);
    u64::try_from(shares).unwrap_or(u64::MAX).max(MIN_SHARES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder, ProcessBuilder,
        SpecBuilder,
    };
    use std::collections::HashMap;

    fn spec(
        annotations: &[(&str, &str)],
        cgroups_path: Option<&str>,
        oom: Option<i32>,
        resources: Option<LinuxResources>,
    ) -> Spec {
        let mut linux = LinuxBuilder::default();
        if let Some(p) = cgroups_path {
            linux = linux.cgroups_path(p);
        }
        if let Some(r) = resources {
            linux = linux.resources(r);
        }
        let mut process = ProcessBuilder::default();
        if let Some(adj) = oom {
            process = process.oom_score_adj(adj);
        }
        let annotations: HashMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SpecBuilder::default()
            .annotations(annotations)
            .linux(linux.build().unwrap())
            .process(process.build().unwrap())
            .build()
            .unwrap()
    }

    /// memory limit, reservation, cpu shares, quota, period; 0 = unset.
    fn res(limit: i64, reservation: i64, shares: u64, quota: i64, period: u64) -> LinuxResources {
        let mut memory = LinuxMemoryBuilder::default();
        if limit != 0 {
            memory = memory.limit(limit);
        }
        if reservation != 0 {
            memory = memory.reservation(reservation);
        }
        let mut cpu = LinuxCpuBuilder::default();
        if shares != 0 {
            cpu = cpu.shares(shares);
        }
        if quota != 0 {
            cpu = cpu.quota(quota);
        }
        if period != 0 {
            cpu = cpu.period(period);
        }
        LinuxResourcesBuilder::default()
            .memory(memory.build().unwrap())
            .cpu(cpu.build().unwrap())
            .build()
            .unwrap()
    }

    fn class_rule(s: &Spec) -> (QosClass, Rule) {
        let c = classify(s).unwrap();
        (c.class, c.rule)
    }

    const GIB: i64 = 1 << 30;

    #[test]
    fn annotation_wins_over_every_other_signal() {
        let s = spec(
            &[(CLASS_ANNOTATION, "besteffort")],
            Some("/kubepods/pod1/c"),
            Some(-998),
            Some(res(GIB, 0, 1024, 100_000, 100_000)),
        );
        let c = classify(&s).unwrap();
        assert_eq!((c.class, c.rule), (QosClass::BestEffort, Rule::Annotation));
        assert_eq!(c.reason, "annotation io.husk.qos.class=besteffort");
        for (value, class) in [
            ("guaranteed", QosClass::Guaranteed),
            ("burstable", QosClass::Burstable),
        ] {
            let s = spec(&[(CLASS_ANNOTATION, value)], None, None, None);
            assert_eq!(class_rule(&s), (class, Rule::Annotation));
        }
    }

    #[test]
    fn bad_annotation_value_names_the_annotation_and_the_allowed_values() {
        for bad in ["Guaranteed", "", "best-effort"] {
            let err = classify(&spec(&[(CLASS_ANNOTATION, bad)], None, None, None)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("qos: annotation io.husk.qos.class={bad:?}: allowed values are guaranteed, burstable, besteffort")
            );
        }
        let err = classify(&spec(
            &[(MEMORY_REQUEST_ANNOTATION, "1Gi")],
            None,
            None,
            None,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "qos: annotation io.husk.qos.memory-request=\"1Gi\": expected a number of bytes"
        );
    }

    #[test]
    fn kubepods_cgroupfs_paths() {
        let table = [
            ("/kubepods/besteffort/pod1/ctr", QosClass::BestEffort),
            ("/kubepods/burstable/pod1/ctr", QosClass::Burstable),
            ("/kubepods/pod1/ctr", QosClass::Guaranteed),
            ("kubepods/podabc-def/ctr", QosClass::Guaranteed),
            ("/kubelet/kubepods/burstable/pod1/ctr", QosClass::Burstable),
        ];
        for (path, class) in table {
            let s = spec(&[], Some(path), Some(-998), None);
            assert_eq!(class_rule(&s), (class, Rule::KubepodsPath), "{path}");
        }
        let c = classify(&spec(&[], Some("/kubepods/burstable/pod1/c"), None, None)).unwrap();
        assert_eq!(
            c.reason,
            "cgroupsPath \"/kubepods/burstable/pod1/c\" is under kubepods/burstable"
        );
        // Not kubelet's layout: decided by a later rule.
        for path in [
            "/kubepods",
            "/kubepods/other/x",
            "/mykubepods/burstable/x",
            "/test/x",
        ] {
            let s = spec(&[], Some(path), None, None);
            assert_eq!(class_rule(&s).1, Rule::Resources, "{path}");
        }
    }

    #[test]
    fn kubepods_systemd_paths() {
        let table = [
            ("kubepods-besteffort-pod1.slice:cri-containerd:ID", QosClass::BestEffort),
            ("kubepods-burstable-pod_x.slice:crio:ID", QosClass::Burstable),
            ("kubepods-pod_x.slice:cri-containerd:ID", QosClass::Guaranteed),
            (
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod_x.slice/cri-containerd-ID.scope",
                QosClass::Burstable,
            ),
            (
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod_x.slice/crio-ID.scope",
                QosClass::BestEffort,
            ),
            ("/kubepods.slice/kubepods-pod_x.slice/crio-ID.scope", QosClass::Guaranteed),
        ];
        for (path, class) in table {
            let s = spec(&[], Some(path), Some(1000), None);
            assert_eq!(class_rule(&s), (class, Rule::KubepodsPath), "{path}");
        }
        let s = spec(&[], Some("system.slice:docker:ID"), None, None);
        assert_eq!(class_rule(&s).1, Rule::Resources);
    }

    #[test]
    fn kubelet_oom_score_adj_values() {
        let table = [
            (-998, Some(QosClass::Guaranteed)),
            (1000, Some(QosClass::BestEffort)),
            (2, Some(QosClass::Burstable)),
            (500, Some(QosClass::Burstable)),
            (999, Some(QosClass::Burstable)),
            // Not values kubelet gives a container: the resources decide.
            (0, None),
            (1, None),
            (-999, None),
            (-1000, None),
        ];
        for (adj, class) in table {
            let s = spec(&[], Some("/test/c"), Some(adj), None);
            let c = classify(&s).unwrap();
            match class {
                Some(class) => {
                    assert_eq!((c.class, c.rule), (class, Rule::OomScoreAdj), "{adj}");
                    assert_eq!(
                        c.reason,
                        format!("process.oomScoreAdj {adj} is kubelet's value for {class}")
                    );
                }
                None => assert_eq!((c.class, c.rule), (QosClass::BestEffort, Rule::Resources)),
            }
        }
    }

    #[test]
    fn resource_shapes() {
        let mib = 1 << 20;
        let table = [
            (None, QosClass::BestEffort),
            (Some(res(0, 0, 0, 0, 0)), QosClass::BestEffort),
            (Some(res(0, 0, 2, 0, 0)), QosClass::BestEffort),
            (Some(res(-1, 0, 2, -1, 100_000)), QosClass::BestEffort),
            (Some(res(0, 0, 3, 0, 0)), QosClass::Burstable),
            // A memory request alone is a request: not BestEffort.
            (Some(res(0, 64 * mib, 2, 0, 0)), QosClass::Burstable),
            // 1 cpu, 1 GiB, request == limit.
            (
                Some(res(GIB, 0, 1024, 100_000, 100_000)),
                QosClass::Guaranteed,
            ),
            (
                Some(res(GIB, GIB, 1024, 100_000, 100_000)),
                QosClass::Guaranteed,
            ),
            // 100m: quota 10000, shares 102 (102.4 rounded down).
            (
                Some(res(GIB, 0, 102, 10_000, 100_000)),
                QosClass::Guaranteed,
            ),
            // 333m with a 12345 µs period: quota 4110, shares 340; 4110*1024/12345 = 340.9.
            (Some(res(GIB, 0, 340, 4110, 12345)), QosClass::Guaranteed),
            // kubelet rounds quota and shares separately: 42m with a 33333 µs period gives quota
            // 1399 and shares 43, while 1399*1024/33333 = 42.98.
            (Some(res(GIB, 0, 43, 1399, 33_333)), QosClass::Guaranteed),
            (Some(res(GIB, 0, 44, 1399, 33_333)), QosClass::Burstable),
            // request 500m, limit 1 cpu.
            (
                Some(res(GIB, 0, 512, 100_000, 100_000)),
                QosClass::Burstable,
            ),
            // memory request below the limit.
            (
                Some(res(GIB, 512 * mib, 1024, 100_000, 100_000)),
                QosClass::Burstable,
            ),
            // A limit without a quota, a quota without a limit, no shares.
            (Some(res(GIB, 0, 1024, 0, 0)), QosClass::Burstable),
            (Some(res(0, 0, 1024, 100_000, 100_000)), QosClass::Burstable),
            (Some(res(GIB, 0, 0, 100_000, 100_000)), QosClass::Burstable),
        ];
        for (resources, class) in table {
            let s = spec(&[], None, None, resources.clone());
            assert_eq!(class_rule(&s), (class, Rule::Resources), "{resources:?}");
        }
        let c = classify(&spec(
            &[],
            None,
            None,
            Some(res(GIB, 0, 512, 100_000, 100_000)),
        ))
        .unwrap();
        assert_eq!(
            c.reason,
            "memory limit 1073741824, cpu quota 100000/100000, cpu shares 512: requests below limits"
        );
    }

    #[test]
    fn memory_request_from_annotation_then_reservation() {
        let s = spec(
            &[(MEMORY_REQUEST_ANNOTATION, "1000")],
            None,
            None,
            Some(res(0, 5000, 0, 0, 0)),
        );
        assert_eq!(classify(&s).unwrap().memory_request, Some(1000));
        let s = spec(&[], None, None, Some(res(0, 5000, 0, 0, 0)));
        assert_eq!(classify(&s).unwrap().memory_request, Some(5000));
        let s = spec(&[], None, None, Some(res(0, -1, 0, 0, 0)));
        assert_eq!(classify(&s).unwrap().memory_request, None);
        // An annotated request different from the limit is not Guaranteed.
        let s = spec(
            &[(MEMORY_REQUEST_ANNOTATION, "1000")],
            None,
            None,
            Some(res(GIB, 0, 1024, 100_000, 100_000)),
        );
        assert_eq!(class_rule(&s), (QosClass::Burstable, Rule::Resources));
    }
}
