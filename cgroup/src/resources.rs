//! OCI linux.resources -> cgroup files, one controller module each, in runc's order
//! (fs2.Manager.Set: pids, memory, io, cpu, devices, cpuset, hugetlb, rdma, unified last).

use std::borrow::Cow;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::error::CgroupError;
use crate::hierarchy::Controllers;
use crate::{cpu, cpuset, hugetlb, io, memory, pids, rdma, unified};

/// What the resources ask of each controller: (what, controller), e.g. ("memory limit", "memory").
/// Fails on an invalid unified key, before anything is touched.
pub(crate) fn requested(res: &LinuxResources) -> Result<Vec<(String, &str)>, CgroupError> {
    let mut asked: Vec<(String, &str)> = Vec::new();
    let mut ask = |what: Option<&str>, controller| {
        if let Some(what) = what {
            asked.push((what.to_owned(), controller));
        }
    };
    ask(res.pids().map(|_| pids::WHAT), "pids");
    ask(res.memory().as_ref().and_then(memory::requested), "memory");
    ask(res.block_io().as_ref().and_then(io::requested), "io");
    ask(res.cpu().as_ref().and_then(cpu::requested), "cpu");
    ask(res.cpu().as_ref().and_then(cpuset::requested), "cpuset");
    ask(
        res.hugepage_limits()
            .as_ref()
            .filter(|l| !l.is_empty())
            .map(|_| hugetlb::WHAT),
        "hugetlb",
    );
    ask(
        res.rdma()
            .as_ref()
            .filter(|r| !r.is_empty())
            .map(|_| rdma::WHAT),
        "rdma",
    );
    if let Some(map) = res.unified() {
        for (key, _) in unified::validated(map)? {
            if let Some(controller) = unified::controller_of(key) {
                asked.push((format!("unified key {key:?}"), controller));
            }
        }
    }
    Ok(asked)
}

/// Fails, naming the controller, when the resources ask something of one the hierarchy lacks.
pub(crate) fn check_available(
    asked: &[(String, &str)],
    available: &Controllers,
    root: &Path,
) -> Result<(), CgroupError> {
    match asked
        .iter()
        .find(|(_, controller)| !available.contains(controller))
    {
        Some((what, controller)) => Err(CgroupError::ControllerUnavailable {
            what: what.clone(),
            controller: (*controller).to_owned(),
            root: root.to_owned(),
        }),
        None => Ok(()),
    }
}

/// For update: the resources with what runc would take from the running config filled in from the
/// cgroup's current files (the other half of cpu.max, the memory limit a swap limit is relative to).
pub(crate) fn merged_for_update<'a>(
    dir: &Path,
    res: &'a LinuxResources,
) -> Result<Cow<'a, LinuxResources>, CgroupError> {
    let cpu = res
        .cpu()
        .as_ref()
        .map(|c| cpu::with_current_max(dir, c))
        .transpose()?
        .flatten();
    let memory = res
        .memory()
        .as_ref()
        .map(|m| memory::with_current_limit(dir, m))
        .transpose()?
        .flatten();
    if cpu.is_none() && memory.is_none() {
        return Ok(Cow::Borrowed(res));
    }
    let mut merged = res.clone();
    if cpu.is_some() {
        merged.set_cpu(cpu);
    }
    if memory.is_some() {
        merged.set_memory(memory);
    }
    Ok(Cow::Owned(merged))
}

/// Every resource file but the device filter (`Cgroup::install_devices`).
pub(crate) fn apply(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(p) = res.pids() {
        pids::apply(dir, p)?;
    }
    if let Some(m) = res.memory() {
        memory::apply(dir, m)?;
    }
    if let Some(b) = res.block_io() {
        io::apply(dir, b)?;
    }
    if let Some(c) = res.cpu() {
        cpu::apply(dir, c)?;
    }
    if let Some(c) = res.cpu() {
        cpuset::apply(dir, c)?;
    }
    if let Some(h) = res.hugepage_limits() {
        hugetlb::apply(dir, h)?;
    }
    if let Some(r) = res.rdma() {
        rdma::apply(dir, r)?;
    }
    if let Some(u) = res.unified() {
        unified::apply(dir, u)?;
    }
    Ok(())
}
