//! Errors of the QoS engine: a bad annotation, a policy file that cannot be read or is out of range,
//! or a cgroup file operation (with its path and errno).

use std::path::PathBuf;

use crate::error::{CgroupError, SysError};

#[derive(Debug, thiserror::Error)]
pub enum QosError {
    #[error("qos: annotation {key}={value:?}: {reason}")]
    Annotation {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("qos: read policy {}: {errno}", path.display())]
    PolicyRead { path: PathBuf, errno: SysError },
    #[error("qos: policy {}: {message}", path.display())]
    PolicyParse { path: PathBuf, message: String },
    #[error("qos: policy {}: {key} = {value} is out of range: {range}", path.display())]
    PolicyRange {
        path: PathBuf,
        key: String,
        value: String,
        range: &'static str,
    },
    #[error("qos: {op} user.husk.qos on {}: {errno}", path.display())]
    Xattr {
        path: PathBuf,
        op: &'static str,
        errno: SysError,
    },
    #[error("qos: lock {}: {errno}", path.display())]
    Lock { path: PathBuf, errno: SysError },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}
