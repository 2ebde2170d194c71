//! `update ID`: change a live container's resources from `-r FILE|-` (LinuxResources JSON,
//! including `unified`) and runc 1.1's flags, which win over the JSON (runc update.go). Device rules
//! are never changed. A quota or period alone keeps the other half of cpu.max (Cgroup::update).
//! Then the QoS class and plan are re-derived from the stored resources merged with the update.
use std::io::Read;

use anyhow::{bail, Context as _, Result};
use husk_cgroup::qos;
use husk_cgroup::Hierarchy;
use husk_oci::ContainerStatus;
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use serde_json::Value;

use super::Context;
use crate::cli::UpdateArgs;

pub fn run(ctx: &Context, args: &UpdateArgs) -> Result<i32> {
    refuse_unsupported(args)?;
    let update = resources(args)?;
    let dir = ctx.dir(&args.id)?;
    let _lock = dir.lock()?;
    let mut record = dir.read_record()?;
    if record.status(&dir) == ContainerStatus::Stopped {
        bail!("container not running");
    }
    let cgroup = record.cgroup()?;
    cgroup.update(&update)?;

    let Some(stored) = record.qos.as_mut() else {
        return Ok(0);
    };
    let policy = ctx.qos_policy()?;
    if !policy.enabled {
        return Ok(0);
    }
    stored.resources = Some(merged(stored.resources.as_ref(), &update)?);
    let spec = stored.spec(&record.annotations);
    let plan = qos::plan(&qos::classify(&spec)?, &spec, &policy);
    stored.class = plan.class.name().to_owned();
    stored.protects_memory = plan.memory_min() > 0;
    super::qos::apply(
        &Hierarchy::detect()?,
        &cgroup,
        &record.cgroup_path,
        &policy,
        &plan,
        true,
    )?;
    dir.write_record(&record)?;
    Ok(0)
}

/// The flags husk accepts like runc 1.1 but cannot honour on cgroup v2.
fn refuse_unsupported(args: &UpdateArgs) -> Result<()> {
    if args.cpu_rt_period.is_some_and(|v| v != 0) || args.cpu_rt_runtime.is_some_and(|v| v != 0) {
        bail!(
            "--cpu-rt-period/--cpu-rt-runtime: realtime cpu limits are not supported on cgroup v2"
        );
    }
    if args.kernel_memory.is_some() || args.kernel_memory_tcp.is_some() {
        bail!("--kernel-memory/--kernel-memory-tcp: kernel memory limits are not supported on cgroup v2");
    }
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        bail!("--l3-cache-schema/--mem-bw-schema: Intel RDT is not supported by husk");
    }
    Ok(())
}

/// The `--resources` JSON (devices dropped: update never changes device rules) with the flags
/// applied over it.
fn resources(args: &UpdateArgs) -> Result<LinuxResources> {
    let mut r: LinuxResources = match &args.resources {
        None => LinuxResources::default(),
        Some(path) => {
            let json = if path.as_os_str() == "-" {
                let mut json = String::new();
                std::io::stdin()
                    .read_to_string(&mut json)
                    .context("read resources from stdin")?;
                json
            } else {
                std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?
            };
            serde_json::from_str(&json).with_context(|| {
                format!(
                    "parse resources {}: not LinuxResources JSON",
                    path.display()
                )
            })?
        }
    };
    r.set_devices(None);

    let mut memory = r.memory().unwrap_or_default();
    let memory_flags = [
        (
            "--memory",
            &args.memory,
            LinuxMemory::set_limit as fn(&mut LinuxMemory, Option<i64>) -> &mut LinuxMemory,
        ),
        (
            "--memory-reservation",
            &args.memory_reservation,
            LinuxMemory::set_reservation,
        ),
        ("--memory-swap", &args.memory_swap, LinuxMemory::set_swap),
    ];
    for (flag, value, set) in memory_flags {
        if let Some(value) = value {
            set(
                &mut memory,
                Some(parse_bytes(value).with_context(|| format!("{flag} {value:?}"))?),
            );
        }
    }
    if memory != LinuxMemory::default() {
        r.set_memory(Some(memory));
    }

    let mut cpu = r.cpu().clone().unwrap_or_default();
    if let Some(v) = args.cpu_share {
        cpu.set_shares(Some(v));
    }
    if let Some(v) = args.cpu_quota {
        cpu.set_quota(Some(v));
    }
    if let Some(v) = args.cpu_period {
        cpu.set_period(Some(v));
    }
    if let Some(v) = &args.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
    }
    if let Some(v) = &args.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
    }
    if cpu != LinuxCpu::default() {
        r.set_cpu(Some(cpu));
    }

    if let Some(limit) = args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(limit);
        r.set_pids(Some(pids));
    }
    if let Some(weight) = args.blkio_weight {
        let mut blkio = r.block_io().clone().unwrap_or_default();
        blkio.set_weight(Some(weight));
        r.set_block_io(Some(blkio));
    }
    Ok(r)
}

/// docker's units.RAMInBytes, as runc parses memory flags: `-1`, or a number with an optional
/// binary unit (k, m, g, t, p; an optional trailing b or ib), any case.
fn parse_bytes(value: &str) -> Result<i64> {
    if value == "-1" {
        return Ok(-1);
    }
    let lower = value.trim().to_ascii_lowercase();
    let unitless = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let split = unitless
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(unitless.len());
    let (number, unit) = unitless.split_at(split);
    let shift = match unit.trim() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        other => bail!("invalid size: unknown unit {other:?}"),
    };
    let number: f64 = number.parse().context("invalid size")?;
    Ok((number * (1u64 << shift) as f64) as i64)
}

/// `stored` with every field the update sets replaced (objects merged key by key, so `unified`
/// keys add up; lists replaced).
fn merged(stored: Option<&LinuxResources>, update: &LinuxResources) -> Result<LinuxResources> {
    let mut base = serde_json::to_value(stored.cloned().unwrap_or_default())?;
    merge_json(&mut base, serde_json::to_value(update)?);
    Ok(serde_json::from_value(base)?)
}

fn merge_json(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge_json(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn update_args(line: &str) -> UpdateArgs {
        match Cli::try_parse_from(line.split_whitespace())
            .unwrap()
            .command
        {
            Some(Command::Update(args)) => *args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_win_over_the_json_and_devices_are_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("r.json");
        std::fs::write(
            &file,
            r#"{"memory":{"limit":1000,"reservation":10},"cpu":{"quota":5000},
                "devices":[{"allow":false,"access":"rwm"}],"unified":{"memory.high":"900"}}"#,
        )
        .unwrap();
        let args = update_args(&format!(
            "husk update -r {} --memory 64m --cpu-period 20000 --pids-limit -1 --blkio-weight 300 c1",
            file.display()
        ));
        let r = resources(&args).unwrap();
        let memory = r.memory().as_ref().unwrap();
        assert_eq!(memory.limit(), Some(64 << 20));
        assert_eq!(memory.reservation(), Some(10));
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(5000), Some(20000)));
        assert_eq!(r.pids().as_ref().unwrap().limit(), -1);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        assert!(r.devices().is_none());
        assert_eq!(r.unified().as_ref().unwrap()["memory.high"], "900");
        let none = resources(&update_args("husk update c1")).unwrap();
        assert_eq!(none, LinuxResources::default());
    }

    #[test]
    fn sizes_like_docker_units() {
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("2kb").unwrap(), 2048);
        assert_eq!(parse_bytes("1.5KiB").unwrap(), 1536);
        assert!(parse_bytes("12q").is_err());
        assert!(parse_bytes("m").is_err());
    }

    #[test]
    fn unsupported_flags_are_refused_by_name() {
        for line in [
            "husk update --kernel-memory 1m c1",
            "husk update --cpu-rt-runtime 100 c1",
            "husk update --l3-cache-schema L3:0=f c1",
        ] {
            let err = refuse_unsupported(&update_args(line))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("--"), "{line}: {err}");
        }
        refuse_unsupported(&update_args("husk update --cpu-rt-period 0 c1")).unwrap();
    }

    #[test]
    fn merge_keeps_what_the_update_leaves_and_adds_unified_keys() {
        let stored: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":1000,"reservation":10},"cpu":{"shares":512},"unified":{"a.b":"1"}}"#,
        )
        .unwrap();
        let update: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":2000},"unified":{"c.d":"2"}}"#).unwrap();
        let m = merged(Some(&stored), &update).unwrap();
        let memory = m.memory().as_ref().unwrap();
        assert_eq!(
            (memory.limit(), memory.reservation()),
            (Some(2000), Some(10))
        );
        assert_eq!(m.cpu().as_ref().unwrap().shares(), Some(512));
        assert_eq!(m.unified().as_ref().unwrap().len(), 2);
        assert_eq!(
            merged(None, &update)
                .unwrap()
                .memory()
                .as_ref()
                .unwrap()
                .limit(),
            Some(2000)
        );
    }
}
