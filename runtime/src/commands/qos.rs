//! `qos explain -b BUNDLE` and `qos show ID`, and the QoS steps of create, update and delete
//! (husk_cgroup::qos documents the sequence).
use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use husk_cgroup::qos::{self, Policy, QosPlan};
use husk_cgroup::{Cgroup, Hierarchy};
use husk_oci::Bundle;
use oci_spec::runtime::Spec;

use super::Context;
use crate::cli::{ListFormat, QosCommand, QosExplainArgs, QosShowArgs};

pub fn run(ctx: &Context, command: &QosCommand) -> Result<i32> {
    match command {
        QosCommand::Explain(args) => explain(ctx, args),
        QosCommand::Show(args) => show(ctx, args),
    }
}

/// What create would write for the bundle, without creating anything.
fn explain(ctx: &Context, args: &QosExplainArgs) -> Result<i32> {
    let bundle = Bundle::load(&args.bundle)?;
    let policy = ctx.qos_policy()?;
    let explanation = qos::explain(&bundle.spec, &policy)?;
    let out = match args.format {
        ListFormat::Table => explanation.to_string(),
        ListFormat::Json => json_line(&explanation)?,
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(0)
}

/// What the container's cgroup holds now, read back from the files.
fn show(ctx: &Context, args: &QosShowArgs) -> Result<i32> {
    let dir = ctx.dir(&args.id)?;
    let record = dir.read_record()?;
    let status = qos::show(&Hierarchy::detect()?, &record.cgroup_path)?;
    let class = record.qos.as_ref().map(|q| q.class.as_str());
    let out = match args.format {
        ListFormat::Table => format!(
            "class: {}\n{status}",
            class.unwrap_or("none (QoS engine off)")
        ),
        ListFormat::Json => {
            let mut value = serde_json::to_value(&status)?;
            value["class"] = serde_json::json!(class);
            json_line(&value)?
        }
    };
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(0)
}

fn json_line(value: &impl serde::Serialize) -> Result<String> {
    let mut out = serde_json::to_string_pretty(value)?;
    out.push('\n');
    Ok(out)
}

/// The policy and the container's plan; None when the policy turns the engine off (nothing is
/// classified, nothing written). Fails on a bad policy file or `io.husk.qos.*` annotation.
pub fn prepare(ctx: &Context, spec: &Spec) -> Result<Option<(Policy, QosPlan)>> {
    let policy = ctx.qos_policy()?;
    if !policy.enabled {
        return Ok(None);
    }
    let class = qos::classify(spec)?;
    let plan = qos::plan(&class, spec, &policy);
    Ok(Some((policy, plan)))
}

/// Writes the plan's policy values after the resources, then keeps the ancestors' memory.min at
/// the sum of their children when the plan protects memory (always on update: the old value may
/// have been higher).
pub fn apply(
    h: &Hierarchy,
    cgroup: &Cgroup,
    rel: &Path,
    policy: &Policy,
    plan: &QosPlan,
    updating: bool,
) -> Result<()> {
    cgroup.apply_qos(plan)?;
    if policy.protect_ancestors && (updating || plan.memory_min() > 0) {
        qos::reconcile_ancestors(h, rel)
            .with_context(|| format!("qos: reconcile the ancestors of {}", rel.display()))?;
    }
    Ok(())
}

/// After a container's cgroup is gone: its memory.min no longer counts in its ancestors' sums.
pub fn forget(ctx: &Context, rel: &Path) -> Result<()> {
    let policy = ctx.qos_policy()?;
    if policy.enabled && policy.protect_ancestors {
        qos::reconcile_ancestors(&Hierarchy::detect()?, rel)?;
    }
    Ok(())
}
