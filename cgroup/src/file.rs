//! One cgroup file access = one open + one read or write + close (cgroupfs treats every write(2) as
//! one command, so a value is always written in a single call).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use crate::error::CgroupError;

/// Writes `value` to `dir/name` (O_WRONLY|O_TRUNC|O_CLOEXEC, never O_CREAT: a missing file means a
/// missing controller and must fail).
pub(crate) fn write(dir: &Path, name: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(name);
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| CgroupError::Write {
            path,
            value: value.to_owned(),
            errno: e.into(),
        })
}

/// Writes a value of several lines (e.g. an io.max entry per device) one write(2) per line through
/// a single open: cgroupfs parses one entry per write (runc WriteFileByLine).
pub(crate) fn write_lines(dir: &Path, name: &str, value: &str) -> Result<(), CgroupError> {
    if !value.contains('\n') {
        return write(dir, name, value);
    }
    let path = dir.join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| CgroupError::Open {
            path: path.clone(),
            errno: e.into(),
        })?;
    for line in value.lines().filter(|l| !l.is_empty()) {
        f.write_all(line.as_bytes())
            .map_err(|e| CgroupError::Write {
                path: path.clone(),
                value: line.to_owned(),
                errno: e.into(),
            })?;
    }
    Ok(())
}

/// Reads the whole of `dir/name` without the fstat/lseek std's read_to_string does.
pub(crate) fn read(dir: &Path, name: &str) -> Result<String, CgroupError> {
    let path = dir.join(name);
    let mut content = Vec::with_capacity(256);
    let result = File::open(&path).and_then(|mut f| loop {
        if content.len() == content.capacity() {
            content.reserve(content.capacity());
        }
        let start = content.len();
        content.resize(content.capacity(), 0);
        match f.read(&mut content[start..]) {
            Ok(0) => {
                content.truncate(start);
                return Ok(());
            }
            Ok(n) => content.truncate(start + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => content.truncate(start),
            Err(e) => return Err(e),
        }
    });
    result.map_err(|e| CgroupError::Read {
        path: path.clone(),
        errno: e.into(),
    })?;
    String::from_utf8(content).map_err(|e| CgroupError::Parse {
        content: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        path,
    })
}

/// Reads `dir/name`, or `None` when the file does not exist (a controller that is not enabled).
pub(crate) fn read_optional(dir: &Path, name: &str) -> Result<Option<String>, CgroupError> {
    match read(dir, name) {
        Ok(content) => Ok(Some(content)),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
