//! The QoS files for a classified container: memory.min, memory.high and cpu.weight, each taken from
//! the spec's unified map, else from the spec's resources, else from the policy; plus the files the
//! spec sets that the QoS values depend on (memory.max, memory.low, cpu.max), for explain.

use std::collections::HashMap;
use std::fmt;

use oci_spec::runtime::{LinuxResources, Spec};
use serde::Serialize;

use super::class::{Classification, QosClass};
use super::policy::{ClassPolicy, Policy};
use crate::cpu::shares_to_weight;

/// Where a file's value comes from, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// linux.resources.unified: written as given by the resources.
    Unified,
    /// Converted from linux.resources: written by the resources.
    Spec,
    /// The QoS policy fills in what the spec leaves open: written by `Cgroup::apply_qos`.
    Policy,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Unified => "unified",
            Source::Spec => "spec",
            Source::Policy => "policy default",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    pub file: &'static str,
    pub value: String,
    pub source: Source,
    /// Why this value, e.g. "burstable: request + 0.9 × (limit − request), page-aligned".
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QosPlan {
    pub class: QosClass,
    /// False when the policy turns the engine off: no entry has Source::Policy.
    pub enabled: bool,
    pub entries: Vec<PlanEntry>,
}

impl QosPlan {
    /// The entries `Cgroup::apply_qos` writes: what the spec leaves open.
    pub fn policy_writes(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.source == Source::Policy)
    }

    /// The memory.min this plan gives the container (0 when none): ancestors only need
    /// reconciling after a create whose plan protects memory.
    pub fn memory_min(&self) -> u64 {
        self.entries
            .iter()
            .find(|e| e.file == "memory.min")
            .and_then(|e| e.value.parse().ok())
            .unwrap_or(0)
    }
}

/// The plan for `spec` in class `c` under `policy`, with the system's page size.
pub fn plan(c: &Classification, spec: &Spec, policy: &Policy) -> QosPlan {
    plan_with_page_size(c, spec, policy, page_size())
}

/// sysconf(_SC_PAGESIZE): the kernel rounds memory.high to pages, so the plan shows the value it
/// will keep.
fn page_size() -> u64 {
    // SAFETY: sysconf takes an integer and touches no memory of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

/// What the spec sets, read once.
struct Inputs<'a> {
    unified: Option<&'a HashMap<String, String>>,
    spec_limit: Option<i64>,
    reservation: Option<i64>,
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
}

impl<'a> Inputs<'a> {
    fn of(resources: Option<&'a LinuxResources>) -> Inputs<'a> {
        let memory = resources.and_then(|r| r.memory().as_ref());
        let cpu = resources.and_then(|r| r.cpu().as_ref());
        Inputs {
            unified: resources.and_then(|r| r.unified().as_ref()),
            spec_limit: memory.and_then(|m| m.limit()).filter(|l| *l != 0),
            reservation: memory.and_then(|m| m.reservation()).filter(|r| *r != 0),
            shares: cpu.and_then(|c| c.shares()).filter(|s| *s != 0),
            quota: cpu.and_then(|c| c.quota()).filter(|q| *q != 0),
            period: cpu.and_then(|c| c.period()).filter(|p| *p != 0),
        }
    }

    fn unified(&self, file: &'static str) -> Option<PlanEntry> {
        let value = self.unified?.get(file)?;
        Some(PlanEntry {
            file,
            value: value.clone(),
            source: Source::Unified,
            detail: format!("linux.resources.unified[{file:?}]"),
        })
    }

    /// The memory limit in bytes, unified memory.max first; None when unlimited or unset.
    fn limit(&self) -> Option<u64> {
        match self.unified.and_then(|u| u.get("memory.max")) {
            Some(value) => value.trim().parse().ok(),
            None => self.spec_limit.and_then(|l| u64::try_from(l).ok()),
        }
    }
}

fn memory_value(v: i64) -> String {
    if v < 0 {
        "max".to_owned()
    } else {
        v.to_string()
    }
}

pub(crate) fn plan_with_page_size(
    c: &Classification,
    spec: &Spec,
    policy: &Policy,
    page: u64,
) -> QosPlan {
    let inputs = Inputs::of(spec.linux().as_ref().and_then(|l| l.resources().as_ref()));
    let class_policy = policy.enabled.then(|| policy.class(c.class));
    let spec_entry = |file, value: String, detail: String| PlanEntry {
        file,
        value,
        source: Source::Spec,
        detail,
    };
    let mut entries = Vec::with_capacity(6);
    entries.extend(inputs.unified("memory.max").or_else(|| {
        let limit = inputs.spec_limit?;
        Some(spec_entry(
            "memory.max",
            memory_value(limit),
            "linux.resources.memory.limit".into(),
        ))
    }));
    entries.extend(inputs.unified("memory.low").or_else(|| {
        let reservation = inputs.reservation?;
        Some(spec_entry(
            "memory.low",
            memory_value(reservation),
            "linux.resources.memory.reservation".into(),
        ))
    }));
    entries.extend(
        inputs
            .unified("memory.min")
            .or_else(|| class_policy.map(|p| memory_min(c, p, inputs.limit()))),
    );
    entries.extend(
        inputs
            .unified("memory.high")
            .or_else(|| class_policy.map(|p| memory_high(c, p, inputs.limit(), page))),
    );
    entries.extend(
        inputs
            .unified("cpu.weight")
            .or_else(|| match inputs.shares {
                Some(shares) => Some(spec_entry(
                    "cpu.weight",
                    shares_to_weight(shares).to_string(),
                    format!("linux.resources.cpu.shares {shares}"),
                )),
                None => class_policy.map(|p| PlanEntry {
                    file: "cpu.weight",
                    value: p.cpu_weight.to_string(),
                    source: Source::Policy,
                    detail: format!("{}: no cpu shares in the spec", c.class),
                }),
            }),
    );
    entries.extend(inputs.unified("cpu.max").or_else(|| {
        if inputs.quota.is_none() && inputs.period.is_none() {
            return None;
        }
        let quota = inputs.quota.filter(|q| *q > 0);
        let period = inputs.period.unwrap_or(100_000);
        let value = match quota {
            Some(q) => format!("{q} {period}"),
            None => format!("max {period}"),
        };
        Some(spec_entry(
            "cpu.max",
            value,
            "linux.resources.cpu.quota/period".into(),
        ))
    }));
    QosPlan {
        class: c.class,
        enabled: policy.enabled,
        entries,
    }
}

fn policy_entry(file: &'static str, value: String, detail: String) -> PlanEntry {
    PlanEntry {
        file,
        value,
        source: Source::Policy,
        detail,
    }
}

/// The request (Guaranteed: the limit, which equals it), never above the limit; "0" (no
/// protection) when the class does not protect or nothing is known, so an update that changes the
/// class also takes back the protection.
fn memory_min(c: &Classification, p: &ClassPolicy, limit: Option<u64>) -> PlanEntry {
    let class = c.class;
    let entry = |value: u64, detail: String| policy_entry("memory.min", value.to_string(), detail);
    if !p.memory_min {
        return entry(0, format!("{class}: no protection"));
    }
    let (amount, what) = match (class, limit, c.memory_request) {
        (QosClass::Guaranteed, Some(limit), _) => (limit, "the memory limit"),
        (_, _, Some(request)) => (request, "the memory request"),
        _ => return entry(0, format!("{class}: no memory request known")),
    };
    match limit {
        Some(limit) if amount > limit => {
            entry(limit, format!("{class}: {what}, capped at the limit"))
        }
        _ => entry(amount, format!("{class}: {what}")),
    }
}

/// KEP-2570: floor((request + factor × (limit − request)) / page) × page with a limit (request 0
/// when unknown), request × request_factor without one; only when above the request, else "max"
/// (no throttling below memory.max).
fn memory_high(c: &Classification, p: &ClassPolicy, limit: Option<u64>, page: u64) -> PlanEntry {
    let class = c.class;
    let max = |detail: String| policy_entry("memory.high", "max".into(), detail);
    if !p.memory_high {
        return max(format!("{class}: no throttling below memory.max"));
    }
    let request = c.memory_request.unwrap_or(0);
    let (high, detail) = match limit {
        Some(limit) if limit > request => {
            // f64 is exact for every size below 8 PiB; the product is floored like the kernel's
            // page rounding that follows.
            let headroom = ((limit - request) as f64 * p.memory_high_factor) as u64;
            let detail = format!(
                "{class}: request + {} × (limit − request), page-aligned (KEP-2570)",
                p.memory_high_factor
            );
            (request + headroom, detail)
        }
        Some(_) => return max(format!("{class}: the request is not below the limit")),
        None if request > 0 => {
            let high = (request as f64 * p.memory_high_request_factor) as u64;
            let detail = format!(
                "{class}: {} × request (no limit), page-aligned",
                p.memory_high_request_factor
            );
            (high, detail)
        }
        None => return max(format!("{class}: no memory limit or request")),
    };
    let high = high / page * page;
    if high <= request {
        return max(format!(
            "{class}: the throttling point is not above the request"
        ));
    }
    policy_entry("memory.high", high.to_string(), detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::class::Rule;
    use oci_spec::runtime::{
        LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder, SpecBuilder,
    };

    const PAGE: u64 = 4096;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn spec(limit: i64, shares: u64, unified: &[(&str, &str)]) -> Spec {
        let mut memory = LinuxMemoryBuilder::default();
        if limit != 0 {
            memory = memory.limit(limit);
        }
        let mut cpu = LinuxCpuBuilder::default();
        if shares != 0 {
            cpu = cpu.shares(shares);
        }
        let unified: HashMap<String, String> = unified
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let resources = LinuxResourcesBuilder::default()
            .memory(memory.build().unwrap())
            .cpu(cpu.build().unwrap())
            .unified(unified)
            .build()
            .unwrap();
        let linux = LinuxBuilder::default()
            .resources(resources)
            .build()
            .unwrap();
        SpecBuilder::default().linux(linux).build().unwrap()
    }

    fn class(class: QosClass, request: Option<u64>) -> Classification {
        Classification {
            class,
            rule: Rule::Annotation,
            reason: String::new(),
            memory_request: request,
        }
    }

    /// (value, source) of `file`, or None.
    fn entry(plan: &QosPlan, file: &str) -> Option<(String, Source)> {
        plan.entries
            .iter()
            .find(|e| e.file == file)
            .map(|e| (e.value.clone(), e.source))
    }

    fn planned(c: &Classification, s: &Spec) -> QosPlan {
        plan_with_page_size(c, s, &Policy::default(), PAGE)
    }

    fn policy(value: &str) -> Option<(String, Source)> {
        Some((value.to_owned(), Source::Policy))
    }

    #[test]
    fn guaranteed_protects_the_limit_and_does_not_throttle() {
        let p = planned(
            &class(QosClass::Guaranteed, None),
            &spec(GIB as i64, 0, &[]),
        );
        assert_eq!(entry(&p, "memory.min"), policy("1073741824"));
        assert_eq!(entry(&p, "memory.high"), policy("max"));
        assert_eq!(entry(&p, "cpu.weight"), policy("10000"));
        assert_eq!(
            entry(&p, "memory.max"),
            Some(("1073741824".into(), Source::Spec))
        );
        assert_eq!(p.memory_min(), GIB);
        // Forced by annotation without a limit: the request, if any.
        let p = planned(&class(QosClass::Guaranteed, Some(MIB)), &spec(0, 0, &[]));
        assert_eq!(entry(&p, "memory.min"), policy("1048576"));
        let p = planned(&class(QosClass::Guaranteed, None), &spec(-1, 0, &[]));
        assert_eq!(entry(&p, "memory.min"), policy("0"));
        assert_eq!(entry(&p, "memory.max"), Some(("max".into(), Source::Spec)));
    }

    #[test]
    fn burstable_kep_2570_formula_is_page_aligned() {
        let c = class(QosClass::Burstable, Some(256 * MIB));
        let p = planned(&c, &spec(GIB as i64, 0, &[]));
        // 268435456 + 0.9 × 805306368 = 993211187.2 -> 242483 pages.
        assert_eq!(entry(&p, "memory.high"), policy("993210368"));
        assert_eq!(993_210_368 % PAGE, 0);
        assert_eq!(entry(&p, "memory.min"), policy("268435456"));
        assert_eq!(entry(&p, "cpu.weight"), policy("512"));
        let high = p.entries.iter().find(|e| e.file == "memory.high").unwrap();
        assert_eq!(
            high.detail,
            "burstable: request + 0.9 × (limit − request), page-aligned (KEP-2570)"
        );
        // A 64 KiB page.
        let p = plan_with_page_size(&c, &spec(GIB as i64, 0, &[]), &Policy::default(), 65536);
        assert_eq!(entry(&p, "memory.high"), policy("993198080"));
    }

    #[test]
    fn burstable_limit_without_request_uses_request_zero() {
        let p = planned(
            &class(QosClass::Burstable, None),
            &spec(1000 * PAGE as i64, 0, &[]),
        );
        assert_eq!(entry(&p, "memory.high"), policy("3686400"));
        assert_eq!(entry(&p, "memory.min"), policy("0"));
        assert_eq!(p.memory_min(), 0);
    }

    #[test]
    fn burstable_request_without_limit_is_one_point_two_times() {
        let p = planned(
            &class(QosClass::Burstable, Some(100 * MIB)),
            &spec(0, 0, &[]),
        );
        // 125829120 is already page-aligned.
        assert_eq!(entry(&p, "memory.high"), policy("125829120"));
        let p = planned(&class(QosClass::Burstable, Some(10_000)), &spec(0, 0, &[]));
        // 12000 rounds down to 8192: below the request, so no throttling.
        assert_eq!(entry(&p, "memory.high"), policy("max"));
    }

    #[test]
    fn request_above_limit_caps_min_and_never_throttles_below_the_request() {
        let c = class(QosClass::Burstable, Some(2 * GIB));
        let p = planned(&c, &spec(GIB as i64, 0, &[]));
        assert_eq!(entry(&p, "memory.min"), policy("1073741824"));
        assert_eq!(entry(&p, "memory.high"), policy("max"));
        let min = p.entries.iter().find(|e| e.file == "memory.min").unwrap();
        assert_eq!(
            min.detail,
            "burstable: the memory request, capped at the limit"
        );
        // Request a few bytes below the limit: the page-aligned point falls under the request.
        let c = class(QosClass::Burstable, Some(GIB - 10));
        let p = planned(&c, &spec(GIB as i64, 0, &[]));
        assert_eq!(entry(&p, "memory.high"), policy("max"));
    }

    #[test]
    fn missing_values_give_no_protection_and_no_throttling() {
        let p = planned(&class(QosClass::Burstable, None), &spec(0, 0, &[]));
        assert_eq!(entry(&p, "memory.min"), policy("0"));
        assert_eq!(entry(&p, "memory.high"), policy("max"));
        assert_eq!(entry(&p, "memory.max"), None);
        assert_eq!(entry(&p, "cpu.max"), None);
        let p = planned(&class(QosClass::BestEffort, Some(MIB)), &spec(0, 0, &[]));
        assert_eq!(entry(&p, "memory.min"), policy("0"));
        assert_eq!(entry(&p, "memory.high"), policy("max"));
        assert_eq!(entry(&p, "cpu.weight"), policy("100"));
    }

    #[test]
    fn weight_from_shares_is_the_spec_value() {
        for (c, shares, weight) in [
            (QosClass::Guaranteed, 1024, "100"),
            (QosClass::Burstable, 512, "59"),
            (QosClass::BestEffort, 2, "1"),
        ] {
            let p = planned(&class(c, None), &spec(0, shares, &[]));
            assert_eq!(
                entry(&p, "cpu.weight"),
                Some((weight.into(), Source::Spec)),
                "{c}"
            );
            assert_eq!(
                p.policy_writes().filter(|e| e.file == "cpu.weight").count(),
                0
            );
        }
    }

    #[test]
    fn unified_keys_win_and_its_memory_max_is_the_limit() {
        let s = spec(
            GIB as i64,
            512,
            &[
                ("memory.min", "5"),
                ("cpu.weight", "77"),
                ("memory.max", "409600"),
            ],
        );
        let p = planned(&class(QosClass::Burstable, None), &s);
        assert_eq!(entry(&p, "memory.min"), Some(("5".into(), Source::Unified)));
        assert_eq!(
            entry(&p, "cpu.weight"),
            Some(("77".into(), Source::Unified))
        );
        assert_eq!(
            entry(&p, "memory.max"),
            Some(("409600".into(), Source::Unified))
        );
        // 0.9 × 409600 = 368640, from the unified limit, not the spec's 1 GiB.
        assert_eq!(entry(&p, "memory.high"), policy("368640"));
        let writes: Vec<&str> = p.policy_writes().map(|e| e.file).collect();
        assert_eq!(writes, ["memory.high"]);
        let s = spec(
            GIB as i64,
            0,
            &[("memory.high", "max"), ("memory.max", "max")],
        );
        let p = planned(&class(QosClass::Guaranteed, None), &s);
        assert_eq!(
            entry(&p, "memory.high"),
            Some(("max".into(), Source::Unified))
        );
        // Unlimited through unified: nothing to protect.
        assert_eq!(entry(&p, "memory.min"), policy("0"));
    }

    #[test]
    fn disabled_policy_plans_no_writes() {
        let off = Policy {
            enabled: false,
            ..Policy::default()
        };
        let c = class(QosClass::Burstable, Some(MIB));
        let p = plan_with_page_size(&c, &spec(GIB as i64, 512, &[]), &off, PAGE);
        assert!(!p.enabled);
        assert_eq!(p.policy_writes().count(), 0);
        assert_eq!(entry(&p, "cpu.weight"), Some(("59".into(), Source::Spec)));
    }

    #[test]
    fn policy_values_are_used() {
        let mut custom = Policy::default();
        custom.burstable.memory_high_factor = 0.5;
        custom.burstable.memory_min = false;
        custom.burstable.cpu_weight = 300;
        let c = class(QosClass::Burstable, Some(0));
        let p = plan_with_page_size(&c, &spec(8 * PAGE as i64, 0, &[]), &custom, PAGE);
        assert_eq!(entry(&p, "memory.high"), policy("16384"));
        assert_eq!(entry(&p, "memory.min"), policy("0"));
        assert_eq!(entry(&p, "cpu.weight"), policy("300"));
    }
}
