//! husk: an OCI container runtime with runc's command line.
//!
//! main parses the command line, runs one subcommand and reports a failure the way runc does:
//! the message on stderr (`husk: <msg>`), one error line in the `--log` file, exit status 1.

#[cfg(target_env = "musl")]
mod alloc;
mod cli;
mod commands;
mod container;
mod foreground;
mod hooks;
mod log;
mod procfs;
mod seccomp;
mod signal;
mod store;
mod tty;
mod unix_socket;

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;

use cli::{Cli, Command};
use commands::Context;
use log::Logger;
use store::Store;

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator::new();

fn main() -> ExitCode {
    let cli = match Cli::from_argv(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(err) => usage_error(err),
    };
    if cli.global.version {
        println!(
            "husk version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            husk_oci::OCI_VERSION
        );
        return ExitCode::SUCCESS;
    }
    let log = match Logger::open(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        Ok(log) => log,
        Err(err) => {
            eprintln!("husk: open log file: {err}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Context {
        store: Store::new(cli.global.root.clone().unwrap_or_else(Store::default_root)),
        log,
        systemd_cgroup: cli.global.systemd_cgroup,
        qos_config: cli.global.qos_config.clone(),
    };
    match dispatch(&ctx, cli.command) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)),
        Err(err) => {
            ctx.log.error(&error_message(&err));
            ExitCode::FAILURE
        }
    }
}

/// A command line clap rejects: clap's message and exit status 2, and also the error line in the
/// `--log` file when the arguments name one, since containerd shows only that file's last error
/// (otherwise "exit status 2: unknown").
fn usage_error(err: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let is_error = !matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if is_error {
        let args: Vec<String> = std::env::args().collect();
        if let Some(log) = Logger::from_raw_args(&args) {
            // The message is what precedes clap's blank line and usage block, folded into one line.
            let text = err.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            log.record_error(message.join(" ").trim_start_matches("error: "));
        }
    }
    err.exit()
}

/// The context chain joined with ": " ("outer: inner: cause"), skipping a cause whose text the
/// message already holds (errors that print their source as part of their own message).
fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn dispatch(ctx: &Context, command: Option<Command>) -> Result<i32> {
    let Some(command) = command else {
        // runc prints its help when called without a command.
        Cli::command().print_help()?;
        return Ok(0);
    };
    match command {
        Command::Create(args) => commands::create::run(ctx, &args),
        Command::Start(args) => commands::start::run(ctx, &args),
        Command::Run(args) => commands::run::run(ctx, &args),
        Command::State(args) => commands::state::run(ctx, &args),
        Command::Kill(args) => commands::kill::run(ctx, &args),
        Command::Exec(args) => commands::exec::run(ctx, &args),
        Command::Delete(args) => commands::delete::run(ctx, &args),
        Command::List(args) => commands::list::run(ctx, &args),
        Command::Spec(args) => commands::spec::run(&args),
        Command::Features => commands::features::run(),
        Command::Pause(args) => commands::pause::run(ctx, &args),
        Command::Resume(args) => commands::resume::run(ctx, &args),
        Command::Update(args) => commands::update::run(ctx, &args),
        Command::Ps(args) => commands::ps::run(ctx, &args),
        Command::Events(args) => commands::events::run(ctx, &args),
        Command::Qos(command) => commands::qos::run(ctx, &command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Like an error type that shows its source in its own message.
    #[derive(Debug)]
    struct PrintsItsSource(std::io::Error);

    impl std::fmt::Display for PrintsItsSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "open /x: {}", self.0)
        }
    }

    impl std::error::Error for PrintsItsSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_chain_is_joined_without_repeating_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let err = anyhow::Error::new(PrintsItsSource(io)).context("create");
        assert_eq!(error_message(&err), "create: open /x: gone");
        let err = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(error_message(&err), "outer: middle: inner");
    }
}
