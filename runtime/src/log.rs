//! `--log FILE --log-format text|json`: one line per failure, in logrus's formats, which is what
//! containerd (last `"level":"error"` line) and podman (the whole file as ONE object) read.
use std::fs::File;
use std::io::Write;
use std::path::Path;

use husk_oci::Timestamp;
use serde::Serialize;

use crate::cli::LogFormat;

pub struct Logger {
    file: Option<File>,
    format: LogFormat,
    debug: bool,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    level: &'a str,
    msg: &'a str,
    time: &'a str,
}

impl Logger {
    /// Opens (append, create) the log file when one is given.
    pub fn open(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<Logger> {
        let file = match path {
            Some(path) => Some(File::options().append(true).create(true).open(path)?),
            None => None,
        };
        Ok(Logger {
            file,
            format,
            debug,
        })
    }

    /// The logger the raw arguments ask for (`--log F`, `--log=F`, `--log-format json`), for errors
    /// found before clap could parse them. None without a `--log` or when it cannot be opened.
    pub fn from_raw_args(args: &[String]) -> Option<Logger> {
        let value = |flag: &str| {
            let with_eq = format!("{flag}=");
            args.iter()
                .enumerate()
                .find_map(|(i, arg)| match arg.strip_prefix(&with_eq) {
                    Some(value) => Some(value),
                    None if arg == flag => args.get(i + 1).map(String::as_str),
                    None => None,
                })
        };
        let format = match value("--log-format") {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };
        Logger::open(Some(Path::new(value("--log")?)), format, false).ok()
    }

    /// An error line in the log file only (the caller has printed it already).
    pub fn record_error(&self, msg: &str) {
        self.write_line("error", msg);
    }

    /// A failure: `husk: <msg>` on stderr and one `error` line in the log file.
    pub fn error(&self, msg: &str) {
        eprintln!("husk: {msg}");
        self.write_line("error", msg);
    }

    /// Something runc warns about and continues. stderr only: a second line in the log file would
    /// break podman, which parses the whole file as one JSON object.
    pub fn warn(&self, msg: &str) {
        eprintln!("husk: warning: {msg}");
    }

    /// `--debug` tracing, on stderr.
    pub fn debug(&self, msg: impl FnOnce() -> String) {
        if self.debug {
            eprintln!("husk: debug: {}", msg());
        }
    }

    fn write_line(&self, level: &str, msg: &str) {
        let Some(mut file) = self.file.as_ref() else {
            return;
        };
        let line = format_line(self.format, level, msg, &Timestamp::now().rfc3339());
        // Nothing useful can be done when the log itself cannot be written.
        let _ = file.write_all(line.as_bytes());
    }
}

/// One log line with its newline: logrus's JSONFormatter `{"level":…,"msg":…,"time":…}` or its
/// TextFormatter `time="…" level=error msg="…"`.
fn format_line(format: LogFormat, level: &str, msg: &str, time: &str) -> String {
    match format {
        LogFormat::Json => {
            let mut line =
                serde_json::to_string(&JsonLine { level, msg, time }).expect("strings serialize");
            line.push('\n');
            line
        }
        LogFormat::Text => {
            let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
            format!("time={} level={level} msg={}\n", quote(time), quote(msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_one_logrus_object() {
        let line = format_line(
            LogFormat::Json,
            "error",
            "say \"hi\"\n",
            "2026-12-04T15:15:01Z",
        );
        assert_eq!(line, "{\"level\":\"error\",\"msg\":\"say \\\"hi\\\"\\n\",\"time\":\"2026-12-04T15:15:01Z\"}\n");
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["msg"], "say \"hi\"\n");
    }

    #[test]
    fn text_line_matches_logrus() {
        let line = format_line(
            LogFormat::Text,
            "error",
            "File config.json exists. Remove it first",
            "2026-12-04T18:21:46Z",
        );
        assert_eq!(line, "time=\"2026-12-04T18:21:46Z\" level=error msg=\"File config.json exists. Remove it first\"\n");
    }

    #[test]
    fn error_appends_exactly_one_line_per_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let logger = Logger::open(Some(&path), LogFormat::Json, false).unwrap();
        logger.warn("not logged to the file");
        logger.error("container does not exist");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["level"], "error");
        assert_eq!(parsed["msg"], "container does not exist");
        assert!(parsed["time"].as_str().unwrap().ends_with('Z'));
        logger.error("second");
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }
}
