//! `events ID`: runc's event stream (runtime-contract §1.5.3), one JSON object per line.
//! `--stats` prints one `{"type":"stats","id":..,"data":{..}}` and exits; otherwise a stats event
//! every `--interval` and an `{"type":"oom","id":..}` event each time memory.events `oom_kill`
//! grows, until the container is gone.
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use husk_cgroup::Cgroup;
use husk_oci::ContainerStatus;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use serde_json::json;

use super::Context;
use crate::cli::EventsArgs;
use crate::store::ContainerDir;

/// How often the stream checks that the container still exists between events.
const LIVENESS_CHECK: Duration = Duration::from_millis(500);

pub fn run(ctx: &Context, args: &EventsArgs) -> Result<i32> {
    let interval = parse_go_duration(&args.interval)
        .with_context(|| format!("--interval {:?}", args.interval))?;
    let dir = ctx.dir(&args.id)?;
    let record = dir.read_record()?;
    if record.status(&dir) == ContainerStatus::Stopped {
        bail!("container not running");
    }
    let cgroup = record.cgroup()?;
    if args.stats {
        print_event(&stats_event(&args.id, &cgroup)?)?;
        return Ok(0);
    }
    let mut oom = OomWatch::open(&cgroup)?;
    let mut next_stats = Instant::now();
    loop {
        for _ in 0..oom.new_kills()? {
            print_event(&json!({"type": "oom", "id": args.id}))?;
        }
        if is_gone(&dir) {
            return Ok(0);
        }
        let now = Instant::now();
        if now >= next_stats {
            print_event(&stats_event(&args.id, &cgroup)?)?;
            next_stats = now + interval;
        }
        oom.wait(
            next_stats
                .saturating_duration_since(now)
                .min(LIVENESS_CHECK),
        )?;
    }
}

fn is_gone(dir: &ContainerDir) -> bool {
    dir.read_record().map_or(true, |record| {
        record.status(dir) == ContainerStatus::Stopped
    })
}

fn stats_event(id: &str, cgroup: &Cgroup) -> Result<serde_json::Value> {
    Ok(json!({"type": "stats", "id": id, "data": cgroup.stats()?}))
}

fn print_event(event: &serde_json::Value) -> Result<()> {
    let mut line = serde_json::to_string(event)?;
    line.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// memory.events, re-read on every kernel notification (POLLPRI, cgroup-v2.rst "memory.events":
/// "a value change in this file generates a file modified event"). Without a memory controller the
/// file is missing and the watch only sleeps.
struct OomWatch {
    events: Option<File>,
    oom_kills: u64,
}

impl OomWatch {
    fn open(cgroup: &Cgroup) -> Result<OomWatch> {
        let mut watch = OomWatch {
            events: File::open(cgroup.dir().join("memory.events")).ok(),
            oom_kills: 0,
        };
        watch.oom_kills = watch.read_oom_kills()?;
        Ok(watch)
    }

    fn read_oom_kills(&self) -> Result<u64> {
        let Some(events) = &self.events else {
            return Ok(0);
        };
        let mut buf = [0u8; 512];
        let n = match events.read_at(&mut buf, 0) {
            Ok(n) => n,
            // The cgroup was removed under us: no more events from it.
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(self.oom_kills),
            Err(e) => return Err(e).context("read memory.events"),
        };
        Ok(String::from_utf8_lossy(&buf[..n])
            .lines()
            .find_map(|line| line.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// How many OOM kills happened since the last call.
    fn new_kills(&mut self) -> Result<u64> {
        let now = self.read_oom_kills()?;
        let new = now.saturating_sub(self.oom_kills);
        self.oom_kills = now;
        Ok(new)
    }

    fn wait(&self, timeout: Duration) -> Result<()> {
        let Some(events) = &self.events else {
            std::thread::sleep(timeout);
            return Ok(());
        };
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(events.as_fd(), PollFlags::POLLPRI)];
        match poll(&mut fds, ms) {
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(errno) => Err(errno).context("poll memory.events"),
        }
    }
}

/// Go's time.ParseDuration, as runc parses `--interval`: a sequence of decimal numbers, each with a
/// unit (ns, us, µs, ms, s, m, h), e.g. `5s`, `500ms`, `1m30s`, `1.5h`. Must be positive.
fn parse_go_duration(text: &str) -> Result<Duration> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        bail!("invalid duration");
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().context("invalid duration")?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => bail!("invalid duration: missing unit"),
            unit => bail!("invalid duration: unknown unit {unit:?}"),
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    if total <= 0.0 {
        bail!("invalid duration: must be positive");
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = |t| parse_go_duration(t).unwrap().as_millis();
        assert_eq!(ms("5s"), 5000);
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("1m"), 60_000);
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("1.5h"), 5_400_000);
        assert_eq!(
            parse_go_duration("250us").unwrap(),
            Duration::from_micros(250)
        );
        for bad in ["", "5", "s", "5x", "0s", "-1s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
