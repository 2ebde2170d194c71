//! The command lines an engine sends for every container (create start run state kill exec
//! delete), parsed without clap. clap builds its command (every argument's table, ids, matches)
//! before it parses: 330,000 instructions and 40 page faults of code and heap at each start, the
//! largest part of `husk run` before clone3. This parser takes only the plain spellings engines
//! use (`--flag value`, `--flag=value`, a short flag alone, each single flag once) and returns
//! `None` for anything else (help, version, a typo, `--`, a value that starts with `-`): clap
//! then parses the line, with its usual messages. Whatever it accepts, clap parses to the same
//! [`Cli`] (the tests compare the two on generated command lines).
use std::ffi::OsString;
use std::path::PathBuf;

use super::{
    Cli, Command, CreateArgs, DeleteArgs, ExecArgs, GlobalArgs, IdArg, KillArgs, LogFormat, RunArgs,
};

/// A flag: long name, short letter, whether it takes a value and whether it may repeat.
struct Flag {
    long: &'static str,
    short: Option<char>,
    takes_value: bool,
    repeats: bool,
}

const fn switch(long: &'static str, short: Option<char>) -> Flag {
    Flag {
        long,
        short,
        takes_value: false,
        repeats: false,
    }
}

const fn option(long: &'static str, short: Option<char>) -> Flag {
    Flag {
        long,
        short,
        takes_value: true,
        repeats: false,
    }
}

const fn list(long: &'static str, short: Option<char>) -> Flag {
    Flag {
        long,
        short,
        takes_value: true,
        repeats: true,
    }
}

const GLOBAL: &[Flag] = &[
    option("root", None),
    option("log", None),
    option("log-format", None),
    switch("debug", None),
    switch("systemd-cgroup", None),
    option("rootless", None),
    option("qos-config", None),
];

const CREATE: &[Flag] = &[
    option("bundle", Some('b')),
    option("pid-file", None),
    option("console-socket", None),
    switch("no-pivot", None),
    switch("no-new-keyring", None),
    option("preserve-fds", None),
];

/// `run`'s own flags, after [`CREATE`]'s.
const RUN: &[Flag] = &[
    switch("detach", Some('d')),
    switch("keep", None),
    switch("no-subreaper", None),
];

const KILL: &[Flag] = &[switch("all", Some('a'))];
const DELETE: &[Flag] = &[switch("force", Some('f'))];

const EXEC: &[Flag] = &[
    option("process", Some('p')),
    option("cwd", None),
    list("env", Some('e')),
    switch("tty", Some('t')),
    option("user", Some('u')),
    list("additional-gids", Some('g')),
    list("cap", Some('c')),
    switch("no-new-privs", None),
    option("apparmor", None),
    option("process-label", None),
    option("preserve-fds", None),
    list("cgroup", None),
    switch("ignore-paused", None),
    switch("detach", Some('d')),
    option("pid-file", None),
    option("console-socket", None),
];

/// The command line, or `None` when clap should parse it.
pub(super) fn parse(argv: &[OsString]) -> Option<Cli> {
    let args = argv
        .get(1..)?
        .iter()
        .map(|a| a.to_str())
        .collect::<Option<Vec<&str>>>()?;
    let (global_args, rest) = args.split_at(global_end(&args));
    let global = Matched::of(&[GLOBAL], global_args, 0, false)?;
    let (name, sub_args) = rest.split_first()?;
    let command = match *name {
        "create" => Command::Create(create_args(&Matched::of(&[CREATE], sub_args, 1, false)?)?),
        "run" => {
            let m = Matched::of(&[CREATE, RUN], sub_args, 1, false)?;
            Command::Run(RunArgs {
                create: create_args(&m)?,
                detach: m.has("detach"),
                keep: m.has("keep"),
                no_subreaper: m.has("no-subreaper"),
            })
        }
        "start" => Command::Start(IdArg {
            id: Matched::of(&[], sub_args, 1, false)?.id()?,
        }),
        "state" => Command::State(IdArg {
            id: Matched::of(&[], sub_args, 1, false)?.id()?,
        }),
        "kill" => {
            let m = Matched::of(&[KILL], sub_args, 2, false)?;
            Command::Kill(KillArgs {
                all: m.has("all"),
                id: m.id()?,
                signal: m.positional.get(1).unwrap_or(&"SIGTERM").to_string(),
            })
        }
        "delete" => {
            let m = Matched::of(&[DELETE], sub_args, 1, false)?;
            Command::Delete(DeleteArgs {
                force: m.has("force"),
                id: m.id()?,
            })
        }
        "exec" => Command::Exec(Box::new(exec_args(&Matched::of(
            &[EXEC],
            sub_args,
            1,
            true,
        )?)?)),
        _ => return None,
    };
    Some(Cli {
        global: GlobalArgs {
            root: global.path("root"),
            log: global.path("log"),
            log_format: match global.value("log-format") {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(_) => return None,
            },
            debug: global.has("debug"),
            systemd_cgroup: global.has("systemd-cgroup"),
            rootless: global.value("rootless").map(str::to_owned),
            version: false,
            qos_config: global.path("qos-config"),
        },
        command: Some(command),
    })
}

/// Where the global flags end and the subcommand's name is: the first argument that is neither a
/// flag nor the value of a global flag spelled `--flag value`.
fn global_end(args: &[&str]) -> usize {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let takes_value = GLOBAL
            .iter()
            .any(|f| f.takes_value && args[i].strip_prefix("--") == Some(f.long));
        i += if takes_value { 2 } else { 1 };
    }
    i.min(args.len())
}

fn create_args(m: &Matched) -> Option<CreateArgs> {
    Some(CreateArgs {
        bundle: m.path("bundle").unwrap_or_else(|| PathBuf::from(".")),
        pid_file: m.path("pid-file"),
        console_socket: m.path("console-socket"),
        no_pivot: m.has("no-pivot"),
        no_new_keyring: m.has("no-new-keyring"),
        preserve_fds: m.number("preserve-fds")?,
        id: m.id()?,
    })
}

fn exec_args(m: &Matched) -> Option<ExecArgs> {
    let strings = |long| m.values(long).map(str::to_owned).collect::<Vec<_>>();
    let additional_gids = m
        .values("additional-gids")
        .flat_map(|v| v.split(','))
        .map(number)
        .collect::<Option<Vec<u32>>>()?;
    Some(ExecArgs {
        process: m.path("process"),
        cwd: m.path("cwd"),
        env: strings("env"),
        tty: m.has("tty"),
        user: m.value("user").map(str::to_owned),
        additional_gids,
        cap: strings("cap"),
        no_new_privs: m.has("no-new-privs"),
        apparmor: m.value("apparmor").map(str::to_owned),
        process_label: m.value("process-label").map(str::to_owned),
        preserve_fds: m.number("preserve-fds")?,
        cgroup: strings("cgroup"),
        ignore_paused: m.has("ignore-paused"),
        detach: m.has("detach"),
        pid_file: m.path("pid-file"),
        console_socket: m.path("console-socket"),
        id: m.id()?,
        command: m.trailing.iter().map(|s| s.to_string()).collect(),
    })
}

/// A decimal u32 as clap reads one, in the one spelling engines use (digits only).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The flags and positionals of one part of the command line.
struct Matched<'a> {
    flags: Vec<(&'static str, Option<&'a str>)>,
    positional: Vec<&'a str>,
    /// After the last positional, with `trailing`: everything, flags included (exec's command).
    trailing: Vec<&'a str>,
}

impl<'a> Matched<'a> {
    /// `args` against the flags of `tables`, with at most `max_positional` positionals (then the
    /// trailing command when `trailing`).
    fn of(
        tables: &[&[Flag]],
        args: &[&'a str],
        max_positional: usize,
        trailing: bool,
    ) -> Option<Self> {
        let flags = || tables.iter().flat_map(|table| table.iter());
        let mut matched = Matched {
            flags: Vec::new(),
            positional: Vec::new(),
            trailing: Vec::new(),
        };
        let mut i = 0;
        while i < args.len() {
            let arg = args[i];
            i += 1;
            if trailing && !matched.positional.is_empty() {
                // exec's command starts right after the id; clap decides whether a `-` word there
                // is a flag or the command.
                if arg.starts_with('-') {
                    return None;
                }
                matched.trailing = args[i - 1..].to_vec();
                break;
            }
            if !arg.starts_with('-') {
                if matched.positional.len() < max_positional {
                    matched.positional.push(arg);
                    continue;
                }
                return None;
            }
            let (flag, inline) = if let Some(long) = arg.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (long, None),
                };
                (flags().find(|f| f.long == name)?, inline)
            } else {
                let mut chars = arg[1..].chars();
                let (Some(letter), None) = (chars.next(), chars.next()) else {
                    return None;
                };
                (flags().find(|f| f.short == Some(letter))?, None)
            };
            if !flag.repeats && matched.flags.iter().any(|(l, _)| *l == flag.long) {
                return None;
            }
            let value = match (flag.takes_value, inline) {
                (false, None) => None,
                (false, Some(_)) => return None,
                (true, Some(value)) => Some(value),
                (true, None) => {
                    i += 1;
                    Some(*args.get(i - 1)?)
                }
            };
            if value.is_some_and(|v| v.is_empty() || v.starts_with('-')) {
                return None;
            }
            matched.flags.push((flag.long, value));
        }
        Some(matched)
    }

    fn has(&self, long: &str) -> bool {
        self.flags.iter().any(|(l, _)| *l == long)
    }

    fn values<'s>(&'s self, long: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.flags
            .iter()
            .filter(move |(l, _)| *l == long)
            .filter_map(|(_, v)| *v)
    }

    fn value(&self, long: &str) -> Option<&'a str> {
        self.values(long).next()
    }

    fn path(&self, long: &str) -> Option<PathBuf> {
        self.value(long).map(PathBuf::from)
    }

    /// The flag's number, 0 when it is absent; `None` (clap decides) when it is not a number.
    fn number(&self, long: &str) -> Option<u32> {
        self.value(long).map_or(Some(0), number)
    }

    /// The container id: the first positional, required.
    fn id(&self) -> Option<String> {
        self.positional.first().map(|s| s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    /// xorshift64: the generated command lines are the same at every run.
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    /// Values, odd spellings and words clap reads differently from this parser.
    const WORDS: &[&str] = &[
        "/r",
        "c1",
        "c2",
        "x",
        "",
        "-",
        "--",
        "-x",
        "2",
        "+2",
        "007",
        "4294967296",
        "1,2",
        "1,,2",
        "json",
        "text",
        "xml",
        "A=1",
        "9",
        "-9",
        "KILL",
        "sh",
        "-c",
        "-la",
        "--color",
        "-h",
        "--help",
        "-v",
        "--version",
        "-dt",
        "-bx",
        "-b=x",
        "--bundle",
        "--detach=true",
        "--root",
        "--force",
        "create",
        "run",
        "exec",
        "list",
    ];

    /// A flag of `flags` in one of its spellings, with a value when it takes one.
    fn flag(rng: &mut Random, flags: &[&Flag], line: &mut Vec<String>) {
        let f = flags[rng.below(flags.len())];
        let value = || -> &str {
            match f.long {
                "log-format" => ["json", "text", "xml"][(f.long.len()) % 3],
                "preserve-fds" => "3",
                "additional-gids" => "1,2",
                _ => "/v",
            }
        };
        let name = match (f.short, rng.below(3)) {
            (Some(letter), 0) => format!("-{letter}"),
            _ => format!("--{}", f.long),
        };
        match (f.takes_value, rng.below(4)) {
            (true, 0) if name.starts_with("--") => line.push(format!("{name}={}", value())),
            (true, 1) => {
                line.push(name);
                line.push(rng.pick(WORDS).to_owned());
            }
            (true, _) => {
                line.push(name);
                line.push(value().to_owned());
            }
            (false, _) => line.push(name),
        }
    }

    /// A command line close to what engines send, with a word from [`WORDS`] now and then.
    fn command_line(rng: &mut Random) -> Vec<String> {
        let mut line = vec!["husk".to_owned()];
        for _ in 0..rng.below(4) {
            flag(rng, &GLOBAL.iter().collect::<Vec<_>>(), &mut line);
        }
        let (name, tables): (&str, &[&[Flag]]) = match rng.below(8) {
            0 => ("create", &[CREATE]),
            1 => ("run", &[CREATE, RUN]),
            2 => ("start", &[]),
            3 => ("state", &[]),
            4 => ("kill", &[KILL]),
            5 => ("delete", &[DELETE]),
            6 => ("exec", &[EXEC]),
            _ => (rng.pick(WORDS), &[CREATE]),
        };
        let flags: Vec<&Flag> = tables.iter().flat_map(|table| table.iter()).collect();
        line.push(name.to_owned());
        let words = rng.below(7);
        // exec's flags go before the id (after it comes the command).
        let id_at = if name == "exec" {
            words + 1
        } else {
            rng.below(words + 1)
        };
        for i in 0..=words {
            if i == id_at {
                line.push("c1".to_owned());
            }
            match rng.below(flags.len() + 3) {
                n if n < flags.len() => flag(rng, &flags, &mut line),
                n if n == flags.len() => line.push(rng.pick(WORDS).to_owned()),
                _ => {}
            }
        }
        if name == "exec" {
            line.push("c1".to_owned());
            for _ in 0..rng.below(3) {
                line.push(rng.pick(WORDS).to_owned());
            }
        }
        line
    }

    #[test]
    fn whatever_the_fast_parse_accepts_clap_parses_the_same() {
        let mut rng = Random(0x9e37_79b9_7f4a_7c15);
        let mut accepted = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..20_000 {
            let line = command_line(&mut rng);
            let argv: Vec<OsString> = line.iter().map(OsString::from).collect();
            let Some(fast) = parse(&argv) else {
                continue;
            };
            let command = format!("{:?}", fast.command);
            let name = command.split('(').nth(1).unwrap_or_default().to_owned();
            *accepted.entry(name).or_default() += 1;
            let clap = Cli::try_parse_from(&argv)
                .unwrap_or_else(|e| panic!("{line:?}: fast parse accepted, clap: {e}"));
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{line:?}");
        }
        // Every subcommand's lines reach the fast parse often enough to mean something.
        assert_eq!(accepted.len(), 7, "{accepted:?}");
        assert!(accepted.values().all(|&n| n > 200), "{accepted:?}");
    }
}
