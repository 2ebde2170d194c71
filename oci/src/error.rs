use std::path::PathBuf;

/// Errors from loading or validating a bundle. Every variant names the file and field.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid container ID format")]
    InvalidId,
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: invalid JSON: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{}: {field}: {message}", path.display())]
    Invalid { path: PathBuf, field: String, message: String },
}
