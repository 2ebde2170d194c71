//! linux.cgroupsPath -> a path below the hierarchy root, including the systemd `slice:prefix:name`
//! form translated to the cgroupfs path systemd would create.

use std::path::{Component, Path, PathBuf};

use crate::error::CgroupError;

/// linux.cgroupsPath (absolute, relative, or systemd "slice:prefix:name" when `systemd`) -> path
/// relative to the hierarchy root, written with a leading `/` like `/proc/<pid>/cgroup` shows it;
/// None -> `"/<id>"` as runc does (systemd: `"/system.slice/runc-<id>.scope"`).
///
/// A relative cgroupsPath is taken relative to the hierarchy root (runc joins it to its own cgroup,
/// which is the root for every caller that passes one).
pub fn container_path(
    cgroups_path: Option<&str>,
    id: &str,
    systemd: bool,
) -> Result<PathBuf, CgroupError> {
    let cgroups_path = cgroups_path.filter(|p| !p.is_empty());
    if systemd {
        let (slice, prefix, name) = match cgroups_path {
            None => ("", "runc", id),
            Some(p) => split_systemd(p)?,
        };
        return systemd_path(slice, prefix, name).map_err(|reason| CgroupError::InvalidPath {
            path: cgroups_path.unwrap_or(id).to_owned(),
            reason,
        });
    }
    let given = cgroups_path.map_or_else(|| format!("/{id}"), str::to_owned);
    normalize(&given).map_err(|reason| CgroupError::InvalidPath {
        path: given.clone(),
        reason,
    })
}

/// Joins a path from `container_path` (leading `/` or not) to the hierarchy root.
pub(crate) fn under_root(root: &Path, rel: &Path) -> Result<PathBuf, CgroupError> {
    let rel_str = rel.to_string_lossy();
    let clean = normalize(&rel_str).map_err(|reason| CgroupError::InvalidPath {
        path: rel_str.clone().into_owned(),
        reason,
    })?;
    Ok(root.join(clean.strip_prefix("/").unwrap_or(&clean)))
}

/// "/a//b/./c" -> "/a/b/c"; `..` is refused (it could leave the hierarchy).
fn normalize(path: &str) -> Result<PathBuf, String> {
    let mut out = PathBuf::from("/");
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err("\"..\" is not allowed".into()),
            Component::Prefix(_) => unreachable!("no path prefixes on Linux"),
        }
    }
    if out.as_os_str() == "/" {
        return Err("it names the hierarchy root".into());
    }
    Ok(out)
}

fn split_systemd(path: &str) -> Result<(&str, &str, &str), CgroupError> {
    let mut parts = path.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(slice), Some(prefix), Some(name), None) => Ok((slice, prefix, name)),
        _ => Err(CgroupError::InvalidPath {
            path: path.to_owned(),
            reason: "expected the form \"slice:prefix:name\" for systemd cgroups".into(),
        }),
    }
}

/// runc's systemd driver: the parent slice expanded (empty -> system.slice), then the unit:
/// `<prefix>-<name>.scope`, `<name>.scope` without prefix, or `<name>` itself when it is a slice.
fn systemd_path(slice: &str, prefix: &str, name: &str) -> Result<PathBuf, String> {
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err(format!("invalid unit name {name:?}"));
    }
    let mut path = expand_slice(if slice.is_empty() {
        "system.slice"
    } else {
        slice
    })?;
    if name.ends_with(".slice") {
        path.push(name);
    } else if prefix.is_empty() {
        path.push(format!("{name}.scope"));
    } else {
        path.push(format!("{prefix}-{name}.scope"));
    }
    Ok(path)
}

/// systemd's slice naming (systemd.slice(5)): every `-` in a slice name is one more level, each level
/// named by the prefix up to that dash: `a-b-c.slice` -> `/a.slice/a-b.slice/a-b-c.slice`;
/// `-.slice` is the root slice.
fn expand_slice(slice: &str) -> Result<PathBuf, String> {
    let invalid = || format!("invalid slice name {slice:?}");
    let base = slice.strip_suffix(".slice").ok_or_else(invalid)?;
    if slice.contains('/') || base.is_empty() {
        return Err(invalid());
    }
    let mut path = PathBuf::from("/");
    if base == "-" {
        return Ok(path);
    }
    let mut prefix = String::with_capacity(base.len());
    for component in base.split('-') {
        if component.is_empty() {
            return Err(invalid());
        }
        path.push(format!("{prefix}{component}.slice"));
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: Option<&str>, systemd: bool) -> String {
        container_path(p, "ID", systemd)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn cgroupfs_paths() {
        assert_eq!(path(None, false), "/ID");
        assert_eq!(path(Some(""), false), "/ID");
        assert_eq!(
            path(Some("/kubepods/burstable/pod1/ID"), false),
            "/kubepods/burstable/pod1/ID"
        );
        assert_eq!(path(Some("machine/ctr"), false), "/machine/ctr");
        assert_eq!(path(Some("//a/./b/"), false), "/a/b");
    }

    #[test]
    fn dot_dot_and_root_are_refused() {
        for bad in ["/a/../../etc", "..", "a/..", "/", "/./"] {
            let err = container_path(Some(bad), "ID", false).unwrap_err();
            assert!(
                matches!(err, CgroupError::InvalidPath { .. }),
                "{bad}: {err}"
            );
        }
        assert!(container_path(None, "..", false).is_err());
    }

    #[test]
    fn systemd_translation_table() {
        let table = [
            (
                "kubepods-burstable-pod_x.slice:cri-containerd:ID",
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod_x.slice/cri-containerd-ID.scope",
            ),
            ("kubepods-besteffort-pod1.slice:crio:ID", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/crio-ID.scope"),
            ("system.slice:docker:ID", "/system.slice/docker-ID.scope"),
            (":libpod:ID", "/system.slice/libpod-ID.scope"),
            ("machine.slice::ID", "/machine.slice/ID.scope"),
            ("-.slice:p:ID", "/p-ID.scope"),
            ("user.slice:p:sub.slice", "/user.slice/sub.slice"),
        ];
        for (given, want) in table {
            assert_eq!(path(Some(given), true), want, "{given}");
        }
        assert_eq!(path(None, true), "/system.slice/runc-ID.scope");
    }

    #[test]
    fn systemd_invalid_forms() {
        for bad in [
            "a:b",
            "a:b:c:d",
            "kubepods.slice/x:p:ID",
            "a--b.slice:p:ID",
            "-a.slice:p:ID",
            "nosuffix:p:ID",
            "system.slice:p:",
            "system.slice:p:a/b",
        ] {
            let err = container_path(Some(bad), "ID", true).unwrap_err();
            assert!(
                matches!(err, CgroupError::InvalidPath { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn under_root_strips_the_leading_slash() {
        assert_eq!(
            under_root(Path::new("/sys/fs/cgroup"), Path::new("/a/b")).unwrap(),
            PathBuf::from("/sys/fs/cgroup/a/b")
        );
        assert_eq!(
            under_root(Path::new("/r"), Path::new("a")).unwrap(),
            PathBuf::from("/r/a")
        );
        assert!(under_root(Path::new("/r"), Path::new("/a/../..")).is_err());
    }
}
