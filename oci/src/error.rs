//! The error type of the oci crate: every variant names the file, and the field when there is one.
use std::path::PathBuf;

/// Errors from loading or validating a bundle. The message is complete: the underlying error is
/// part of it, not a separate `source()`, so it is printed exactly once.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid container ID format")]
    InvalidId,
    /// Reading a file failed, e.g. `/b/config.json: no such file or directory`.
    #[error("{}: {}", path.display(), io_text(error))]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not JSON, e.g. `/b/config.json: invalid JSON: expected value at line 1 column 1`.
    #[error("{}: invalid JSON: {error}", path.display())]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// The JSON does not have the shape of a runtime-spec config (wrong type, missing field).
    #[error("{}: invalid config: {error}", path.display())]
    Schema {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// A field breaks a rule of the runtime spec, e.g. `/b/config.json: process.args: must not be empty`.
    #[error("{}: {field}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
}

/// An io::Error as Go prints it: the lower-case strerror text without Rust's "(os error N)" suffix.
pub fn io_text(err: &std::io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return err.to_string();
    };
    let full = std::io::Error::from_raw_os_error(code).to_string();
    let text = full
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&full);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_print_like_go() {
        let err = OciError::Io {
            path: "/b/config.json".into(),
            error: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(err.to_string(), "/b/config.json: no such file or directory");
    }
}
