//! The command line, runc's flags and subcommands (runtime-contract §1.1, §1.2). Global flags go
//! before the subcommand, as in runc (its CLI library takes them nowhere else) and as every caller
//! passes them, as `--flag value` and `--flag=value`. Not `global = true`: clap would copy each
//! global flag into every subcommand at every start (0.3 M instructions, a tenth of `husk run`).
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod fast;

#[derive(Debug, Parser)]
#[command(
    name = "husk",
    about = "husk: a fast OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The flags before the subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Root directory for container state (default /run/husk, or $XDG_RUNTIME_DIR/husk when not root).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Also write errors to this file.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[arg(long)]
    pub debug: bool,
    /// linux.cgroupsPath is systemd's "slice:prefix:name".
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility and ignored. Not global: `spec --rootless` is a different flag.
    #[arg(long, value_name = "true|false|auto")]
    pub rootless: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    /// The QoS policy (TOML); a missing default file means the built-in policy.
    #[arg(long, value_name = "FILE")]
    pub qos_config: Option<PathBuf>,
}

impl Cli {
    /// Parses `argv`: the command lines engines send for every container by [`fast::parse`], any
    /// other (and any it is unsure of) by clap, with clap's messages.
    pub fn from_argv(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
        match fast::parse(&argv) {
            Some(cli) => Ok(cli),
            None => Cli::try_parse_from(argv),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// defer: a subcommand's arguments are built only when it is the one called (otherwise clap builds
// every subcommand's at every start: 0.65 M instructions, a quarter of a whole `husk run`).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create a container, ready to be started.
    Create(CreateArgs),
    /// Start a created container.
    Start(IdArg),
    /// Create and start a container.
    Run(RunArgs),
    /// Print the state of a container as JSON.
    State(IdArg),
    /// Send a signal to a container's init (or to all its processes).
    Kill(KillArgs),
    /// Run a new process inside a running container.
    Exec(Box<ExecArgs>),
    /// Delete a container and its resources.
    Delete(DeleteArgs),
    /// List containers.
    List(ListArgs),
    /// Write a default config.json.
    Spec(SpecArgs),
    /// Print the features husk implements as JSON.
    Features,
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Change a running container's resource limits.
    Update(Box<UpdateArgs>),
    /// List the processes of a container.
    Ps(PsArgs),
    /// Print a container's stats and OOM events as JSON lines.
    Events(EventsArgs),
    /// Explain or show the QoS class and cgroup files of a container.
    #[command(subcommand)]
    Qos(QosCommand),
}

#[derive(Debug, Args)]
pub struct IdArg {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container init's host pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Keep the caller's session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass fds 3..3+N to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return after the container started instead of waiting for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility and ignored.
    #[arg(long)]
    pub no_subreaper: bool,
}

/// runc's `exec` flags (runtime-contract §1.2). Everything after the container id is the command,
/// flags included (runc's SkipArgReorder): `exec ID sh -c 'x'`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// A runtime-spec Process JSON file; the command line's process flags are then ignored.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variables (KEY=VALUE) added to the container's.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// uid[:gid]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Supplementary gids (repeat the flag or separate with commas).
    #[arg(short = 'g', long, value_delimiter = ',')]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective, permitted and ambient sets.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile (husk has no AppArmor support: refused).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label (husk has no SELinux support: refused).
    #[arg(long)]
    pub process_label: Option<String>,
    /// Pass fds 3..3+N to the process.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run the process in an existing sub-cgroup of the container: [controller:]path.
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Exec even when the container is paused.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Return once the process has started instead of waiting for it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Write the process's host pid here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    pub id: String,
    /// The command and its arguments (without `-p`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal every process in the container's cgroup.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// A number, a name or a SIG-prefixed name, any case.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Kill a running container first; succeed when it does not exist.
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the container IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Where to write config.json.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// A spec for a rootless container (user namespace mapping the caller).
    #[arg(long)]
    pub rootless: bool,
}

/// runc 1.1's `update` flags; each is applied over the `--resources` JSON when both are given.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// LinuxResources JSON from FILE, or `-` for stdin.
    #[arg(short = 'r', long, value_name = "FILE|-")]
    pub resources: Option<PathBuf>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long, alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Bytes, or a size with a unit (k, m, g, t, p; e.g. 512m); -1 = unlimited.
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap; -1 = unlimited.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Accepted like runc 1.1; cgroup v2 has no kernel memory limit.
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Intel RDT: not supported by husk.
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// A Go duration: 5s, 500ms, 1m30s.
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print one stats event and exit.
    #[arg(long)]
    pub stats: bool,
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum QosCommand {
    /// What husk would write for a bundle, and why (creates nothing).
    Explain(QosExplainArgs),
    /// What a running container's cgroup holds.
    Show(QosShowArgs),
}

#[derive(Debug, Args)]
pub struct QosExplainArgs {
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct QosShowArgs {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `line` through `Cli::from_argv`, checked against the full command's parse.
    fn parse(line: &str) -> Cli {
        let argv: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        let cli = Cli::from_argv(argv.clone()).unwrap_or_else(|e| panic!("{line}: {e}"));
        let full = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(format!("{cli:?}"), format!("{full:?}"), "{line}");
        cli
    }

    #[test]
    fn containerd_shim_argv() {
        let prefix = "husk --root /run/containerd/runc/k8s.io --log /b/log.json --log-format json";
        let cli = parse(&format!(
            "{prefix} create --bundle /b --pid-file /b/init.pid id"
        ));
        assert_eq!(
            cli.global.root.as_deref(),
            Some("/run/containerd/runc/k8s.io".as_ref())
        );
        assert_eq!(cli.global.log.as_deref(), Some("/b/log.json".as_ref()));
        assert_eq!(cli.global.log_format, LogFormat::Json);
        let Some(Command::Create(create)) = cli.command else {
            panic!("not create")
        };
        assert_eq!(create.bundle, PathBuf::from("/b"));
        assert_eq!(create.pid_file.as_deref(), Some("/b/init.pid".as_ref()));
        assert_eq!(create.id, "id");

        let cli = parse(&format!(
            "{prefix} --systemd-cgroup create --bundle /b --pid-file /b/init.pid \
             --console-socket /tmp/pty.sock --no-pivot --no-new-keyring --preserve-fds 2 id"
        ));
        assert!(cli.global.systemd_cgroup);
        let Some(Command::Create(create)) = cli.command else {
            panic!("not create")
        };
        assert!(create.no_pivot && create.no_new_keyring);
        assert_eq!(create.preserve_fds, 2);
        assert_eq!(
            create.console_socket.as_deref(),
            Some("/tmp/pty.sock".as_ref())
        );

        let Some(Command::Start(start)) = parse(&format!("{prefix} start id")).command else {
            panic!()
        };
        assert_eq!(start.id, "id");
        let Some(Command::Kill(kill)) = parse(&format!("{prefix} kill --all id 9")).command else {
            panic!()
        };
        assert!(kill.all);
        assert_eq!((kill.id.as_str(), kill.signal.as_str()), ("id", "9"));
        let Some(Command::Delete(del)) = parse(&format!("{prefix} delete --force id")).command
        else {
            panic!()
        };
        assert!(del.force);
        assert!(matches!(
            parse("husk features").command,
            Some(Command::Features)
        ));
    }

    #[test]
    fn conmon_and_podman_argv() {
        // conmon: <rt> [--systemd-cgroup] <runtime-args…> create --bundle <b> --pid-file <p> … <id>,
        // runtime args spelled with '='.
        let cli = parse(
            "husk --systemd-cgroup --log-format=json --log=/run/x/oci-log create --bundle /b \
             --pid-file /run/x/pidfile --no-pivot --console-socket /run/x/attach c1",
        );
        assert!(cli.global.systemd_cgroup);
        assert_eq!(cli.global.log_format, LogFormat::Json);
        assert_eq!(cli.global.log.as_deref(), Some("/run/x/oci-log".as_ref()));
        let Some(Command::Create(create)) = cli.command else {
            panic!("not create")
        };
        assert_eq!(create.id, "c1");

        let cli = parse("husk --root=/run/crio/r kill c1 15");
        assert_eq!(cli.global.root.as_deref(), Some("/run/crio/r".as_ref()));
        let Some(Command::Kill(kill)) = cli.command else {
            panic!()
        };
        assert_eq!(kill.signal, "15");
        let Some(Command::Kill(kill)) = parse("husk kill -a c1 KILL").command else {
            panic!()
        };
        assert!(kill.all);
        assert!(matches!(
            parse("husk state c1").command,
            Some(Command::State(_))
        ));
        assert!(parse("husk --version").global.version);
        assert!(parse("husk -v").global.version);
    }

    #[test]
    fn crio_argv() {
        // CRI-O: `--root <runtime_root> [--systemd-cgroup]` on direct calls; through conmon the root
        // arrives as a runtime arg `--root=<root>`.
        let prefix = "husk --root /run/crio/runc --systemd-cgroup";
        let cli = parse(&format!("{prefix} state c1"));
        assert!(cli.global.systemd_cgroup);
        assert!(matches!(cli.command, Some(Command::State(ref a)) if a.id == "c1"));
        let Some(Command::Kill(kill)) = parse(&format!("{prefix} kill c1 KILL")).command else {
            panic!()
        };
        assert_eq!(kill.signal, "KILL");
        let Some(Command::Kill(kill)) = parse(&format!("{prefix} kill -a c1 9")).command else {
            panic!()
        };
        assert!(kill.all);
        let Some(Command::Delete(del)) = parse(&format!("{prefix} delete --force c1")).command
        else {
            panic!()
        };
        assert!(del.force);
        let cli = parse(
            "husk --systemd-cgroup --root=/run/crio/runc create --bundle /b --pid-file /p/pidfile \
             --no-pivot --console-socket /p/attach c1",
        );
        assert_eq!(cli.global.root.as_deref(), Some("/run/crio/runc".as_ref()));
        let Some(Command::Create(create)) = cli.command else {
            panic!()
        };
        assert!(create.no_pivot);
        assert_eq!(create.console_socket.as_deref(), Some("/p/attach".as_ref()));
    }

    #[test]
    fn engines_lines_take_the_fast_parse_and_others_go_to_clap() {
        // `parse` compares the two.
        for line in [
            "husk --root /r --log /l --log-format json --rootless false --qos-config /q \
             run -b /b -d --keep c1",
            "husk --root=/r exec -t --cwd / -e A=1 -e B=2 c1 sh -c x",
            "husk exec c1 ls -la --color",
            "husk --debug state c1",
            "husk --root /run/containerd/runc/k8s.io --log /b/log.json --log-format json \
             exec --process /tmp/p.json --detach --pid-file /b/p.pid c1",
            "husk --systemd-cgroup --log-format=json --log=/run/x/oci-log create --bundle /b \
             --pid-file /run/x/pidfile --no-pivot --console-socket /run/x/attach c1",
            "husk --root /r kill --all c1 9",
            "husk --root /r delete --force c1",
            "husk --root /r start c1",
        ] {
            parse(line);
            let argv: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            assert!(fast::parse(&argv).is_some(), "{line}");
        }
        for line in [
            "husk run --help",
            "husk delete --force c1 --root /r",
            "husk craete c1",
            "husk",
            "husk run",
            "husk --root",
            "husk --log state",
            "husk --version",
            "husk list",
            "husk exec c1 -t sh",
        ] {
            let argv: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            assert!(fast::parse(&argv).is_none(), "{line}");
            let one = Cli::from_argv(argv.clone()).map(|c| format!("{c:?}"));
            let full = Cli::try_parse_from(argv).map(|c| format!("{c:?}"));
            match (one, full) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{line}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{line}"),
                (a, b) => panic!("{line}: {a:?} vs {b:?}"),
            }
        }
    }

    /// clap's own checks of every argument, deferred subcommands included (build() expands them).
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_the_subcommand_as_in_runc() {
        let cli = parse("husk --log-format=json --root /r delete --force c1");
        assert_eq!(cli.global.root.as_deref(), Some("/r".as_ref()));
        assert_eq!(cli.global.log_format, LogFormat::Json);
        // runc: "flag provided but not defined: -root".
        let after = Cli::try_parse_from("husk delete --force c1 --root /r".split(' '));
        assert!(after.is_err());
    }

    #[test]
    fn run_list_spec_flags() {
        let Some(Command::Run(run)) = parse("husk run -d --keep -b /b c1").command else {
            panic!()
        };
        assert!(run.detach && run.keep);
        assert_eq!(run.create.bundle, PathBuf::from("/b"));
        let Some(Command::List(list)) = parse("husk list -f json -q").command else {
            panic!()
        };
        assert_eq!(list.format, ListFormat::Json);
        assert!(list.quiet);
        let Some(Command::Spec(spec)) = parse("husk spec -b /b --rootless").command else {
            panic!()
        };
        assert!(spec.rootless);
        let Some(Command::Kill(kill)) = parse("husk kill c1").command else {
            panic!()
        };
        assert_eq!(kill.signal, "SIGTERM");
        assert!(parse("husk --rootless false --root /r list")
            .global
            .rootless
            .is_some());
    }

    #[test]
    fn cgroup_command_argv() {
        // containerd: `update --resources=- <id>`, `ps --format json <id>`, Top's table with ps args.
        let Some(Command::Update(update)) = parse("husk update --resources=- c1").command else {
            panic!()
        };
        assert_eq!(update.resources.as_deref(), Some("-".as_ref()));
        let Some(Command::Update(update)) =
            parse("husk update --cpu-shares 512 --cpu-quota -1 --memory -1 --pids-limit -1 c1")
                .command
        else {
            panic!()
        };
        assert_eq!(update.cpu_share, Some(512));
        assert_eq!(update.cpu_quota, Some(-1));
        assert_eq!(update.memory.as_deref(), Some("-1"));
        assert_eq!(update.pids_limit, Some(-1));
        let Some(Command::Ps(ps)) = parse("husk ps --format json c1").command else {
            panic!()
        };
        assert_eq!((ps.format, ps.id.as_str()), (ListFormat::Json, "c1"));
        let Some(Command::Ps(ps)) = parse("husk ps --format table c1 -o pid,comm").command else {
            panic!()
        };
        assert_eq!(ps.ps_args, ["-o", "pid,comm"]);
        let Some(Command::Events(events)) =
            parse("husk events --interval=500ms --stats c1").command
        else {
            panic!()
        };
        assert!(events.stats);
        assert_eq!(events.interval, "500ms");
        assert!(matches!(
            parse("husk pause c1").command,
            Some(Command::Pause(_))
        ));
        assert!(matches!(
            parse("husk resume c1").command,
            Some(Command::Resume(_))
        ));
        let cli = parse("husk --qos-config /q.toml qos explain -b /b -f json");
        assert_eq!(cli.global.qos_config.as_deref(), Some("/q.toml".as_ref()));
        let Some(Command::Qos(QosCommand::Explain(explain))) = cli.command else {
            panic!()
        };
        assert_eq!(explain.format, ListFormat::Json);
        assert!(matches!(
            parse("husk qos show c1").command,
            Some(Command::Qos(QosCommand::Show(_)))
        ));
    }
}
