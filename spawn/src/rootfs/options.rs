//! Turns a spec mount's `options` into what the kernel takes: mount(2) flags, a propagation
//! change, recursive attributes for mount_setattr(2) and the filesystem data string.
//!
//! The names are mount(8)'s plus the runtime-spec extensions (config.md "Mounts"; runc's and
//! crun's tables): `rro`, `rnosuid`... (recursive, Linux >= 5.12) and `tmpcopyup`. Anything not
//! in the table is filesystem data (`mode=755`, `size=65536k`, `newinstance`...).

use nix::mount::MsFlags;

// MOUNT_ATTR_* from <linux/mount.h> (mount_setattr(2)).
const ATTR_RDONLY: u64 = libc::MOUNT_ATTR_RDONLY;
const ATTR_NOSUID: u64 = libc::MOUNT_ATTR_NOSUID;
const ATTR_NODEV: u64 = libc::MOUNT_ATTR_NODEV;
const ATTR_NOEXEC: u64 = libc::MOUNT_ATTR_NOEXEC;
const ATTR_NODIRATIME: u64 = libc::MOUNT_ATTR_NODIRATIME;
const ATTR_NOSYMFOLLOW: u64 = libc::MOUNT_ATTR_NOSYMFOLLOW;
/// The atime mode is a 3-bit enum, not independent flags: mount_setattr(2) requires the whole
/// field in `attr_clr` whenever an atime mode is set.
const ATTR_ATIME_FIELD: u64 = libc::MOUNT_ATTR__ATIME;

/// What one option does.
enum Effect {
    Set(MsFlags),
    Clear(MsFlags),
    Propagation(MsFlags),
    RecursiveSet(u64),
    RecursiveClear(u64),
    RecursiveAtime(u64),
    TmpCopyUp(bool),
    IdMap,
    Nothing,
}

fn effect(option: &str) -> Option<Effect> {
    use Effect::*;
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    Some(match option {
        "defaults" => Nothing,
        "ro" => Set(MsFlags::MS_RDONLY),
        "rw" => Clear(MsFlags::MS_RDONLY),
        "nosuid" => Set(MsFlags::MS_NOSUID),
        "suid" => Clear(MsFlags::MS_NOSUID),
        "nodev" => Set(MsFlags::MS_NODEV),
        "dev" => Clear(MsFlags::MS_NODEV),
        "noexec" => Set(MsFlags::MS_NOEXEC),
        "exec" => Clear(MsFlags::MS_NOEXEC),
        "sync" => Set(MsFlags::MS_SYNCHRONOUS),
        "async" => Clear(MsFlags::MS_SYNCHRONOUS),
        "dirsync" => Set(MsFlags::MS_DIRSYNC),
        "remount" => Set(MsFlags::MS_REMOUNT),
        "mand" => Set(MsFlags::MS_MANDLOCK),
        "nomand" => Clear(MsFlags::MS_MANDLOCK),
        "atime" => Clear(MsFlags::MS_NOATIME),
        "noatime" => Set(MsFlags::MS_NOATIME),
        "diratime" => Clear(MsFlags::MS_NODIRATIME),
        "nodiratime" => Set(MsFlags::MS_NODIRATIME),
        "relatime" => Set(MsFlags::MS_RELATIME),
        "norelatime" => Clear(MsFlags::MS_RELATIME),
        "strictatime" => Set(MsFlags::MS_STRICTATIME),
        "nostrictatime" => Clear(MsFlags::MS_STRICTATIME),
        "lazytime" => Set(MsFlags::MS_LAZYTIME),
        "nolazytime" => Clear(MsFlags::MS_LAZYTIME),
        "iversion" => Set(MsFlags::MS_I_VERSION),
        "noiversion" => Clear(MsFlags::MS_I_VERSION),
        "silent" => Set(MsFlags::MS_SILENT),
        "loud" => Clear(MsFlags::MS_SILENT),
        "nosymfollow" => Set(nosymfollow),
        "symfollow" => Clear(nosymfollow),
        "bind" => Set(MsFlags::MS_BIND),
        "rbind" => Set(MsFlags::MS_BIND | MsFlags::MS_REC),
        "private" => Propagation(MsFlags::MS_PRIVATE),
        "rprivate" => Propagation(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        "shared" => Propagation(MsFlags::MS_SHARED),
        "rshared" => Propagation(MsFlags::MS_SHARED | MsFlags::MS_REC),
        "slave" => Propagation(MsFlags::MS_SLAVE),
        "rslave" => Propagation(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        "unbindable" => Propagation(MsFlags::MS_UNBINDABLE),
        "runbindable" => Propagation(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
        "rro" => RecursiveSet(ATTR_RDONLY),
        "rrw" => RecursiveClear(ATTR_RDONLY),
        "rnosuid" => RecursiveSet(ATTR_NOSUID),
        "rsuid" => RecursiveClear(ATTR_NOSUID),
        "rnodev" => RecursiveSet(ATTR_NODEV),
        "rdev" => RecursiveClear(ATTR_NODEV),
        "rnoexec" => RecursiveSet(ATTR_NOEXEC),
        "rexec" => RecursiveClear(ATTR_NOEXEC),
        "rnodiratime" => RecursiveSet(ATTR_NODIRATIME),
        "rdiratime" => RecursiveClear(ATTR_NODIRATIME),
        "rnosymfollow" => RecursiveSet(ATTR_NOSYMFOLLOW),
        "rsymfollow" => RecursiveClear(ATTR_NOSYMFOLLOW),
        "rnoatime" => RecursiveAtime(libc::MOUNT_ATTR_NOATIME),
        "rstrictatime" | "rnorelatime" => RecursiveAtime(libc::MOUNT_ATTR_STRICTATIME),
        // Clearing noatime or strictatime leaves the kernel default, relatime.
        "rrelatime" | "ratime" | "rnostrictatime" => RecursiveAtime(libc::MOUNT_ATTR_RELATIME),
        "tmpcopyup" => TmpCopyUp(true),
        "notmpcopyup" => TmpCopyUp(false),
        "idmap" | "ridmap" => IdMap,
        _ => return None,
    })
}

/// What one spec mount's options ask for.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct MountOptions {
    /// Flags for the mount(2) call (and for the remount of a bind mount).
    pub flags: MsFlags,
    /// Flags explicitly cleared (`rw`, `suid`, `dev`...). A bind mount is remounted when any is
    /// given, even without a flag to set.
    pub cleared: MsFlags,
    /// A propagation change, applied with its own mount(2) call after the mount (mount(2): the
    /// propagation type cannot be combined with other flags). The last one given wins.
    pub propagation: Option<MsFlags>,
    /// MOUNT_ATTR_* to set and clear on the whole tree with mount_setattr(2).
    pub recursive_set: u64,
    pub recursive_clear: u64,
    /// The filesystem-specific options, comma-joined.
    pub data: String,
    pub tmpcopyup: bool,
    pub idmap: bool,
}

impl MountOptions {
    pub fn parse(options: &[String]) -> MountOptions {
        let mut parsed = MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: None,
            recursive_set: 0,
            recursive_clear: 0,
            data: String::new(),
            tmpcopyup: false,
            idmap: false,
        };
        for option in options {
            match effect(option) {
                Some(Effect::Set(f)) => {
                    parsed.flags |= f;
                    parsed.cleared &= !f;
                }
                Some(Effect::Clear(f)) => {
                    parsed.flags &= !f;
                    parsed.cleared |= f;
                }
                Some(Effect::Propagation(p)) => parsed.propagation = Some(p),
                Some(Effect::RecursiveSet(a)) => {
                    parsed.recursive_set |= a;
                    parsed.recursive_clear &= !a;
                }
                Some(Effect::RecursiveClear(a)) => {
                    parsed.recursive_clear |= a;
                    parsed.recursive_set &= !a;
                }
                Some(Effect::RecursiveAtime(mode)) => {
                    parsed.recursive_set = (parsed.recursive_set & !ATTR_ATIME_FIELD) | mode;
                    parsed.recursive_clear |= ATTR_ATIME_FIELD;
                }
                Some(Effect::TmpCopyUp(on)) => parsed.tmpcopyup = on,
                Some(Effect::IdMap) => parsed.idmap = true,
                Some(Effect::Nothing) => {}
                None => {
                    if !parsed.data.is_empty() {
                        parsed.data.push(',');
                    }
                    parsed.data.push_str(option);
                }
            }
        }
        parsed
    }

    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn has_recursive_attrs(&self) -> bool {
        self.recursive_set != 0 || self.recursive_clear != 0
    }

    /// A bind mount ignores every flag but MS_REC; the others need a MS_BIND|MS_REMOUNT call
    /// (mount(2) "Creating a bind mount"). Skipped when the options set or clear nothing.
    pub fn bind_needs_remount(&self) -> bool {
        let ignored = MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT;
        !(self.flags - ignored).is_empty() || !self.cleared.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        let owned: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        MountOptions::parse(&owned)
    }

    #[test]
    fn devpts_defaults_split_into_flags_and_data() {
        let o = parse(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert_eq!(o.propagation, None);
        assert!(!o.is_bind());
    }

    #[test]
    fn later_option_wins() {
        let o = parse(&["ro", "rw", "nosuid", "suid", "nodev"]);
        assert_eq!(o.flags, MsFlags::MS_NODEV);
        assert_eq!(o.cleared, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
    }

    #[test]
    fn rbind_with_propagation_and_ro() {
        let o = parse(&["rbind", "rprivate", "ro"]);
        assert_eq!(
            o.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.propagation, Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC));
        assert!(o.is_bind());
        assert!(o.bind_needs_remount());
        assert!(o.data.is_empty());
    }

    #[test]
    fn plain_bind_and_bind_rw_remount_decision() {
        assert!(!parse(&["bind", "rprivate"]).bind_needs_remount());
        assert!(parse(&["rbind", "rw"]).bind_needs_remount());
    }

    #[test]
    fn recursive_attributes() {
        let o = parse(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(
            o.recursive_set,
            ATTR_RDONLY | ATTR_NOSUID | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.recursive_clear, ATTR_ATIME_FIELD);
        let o = parse(&["rro", "rrw", "rsuid"]);
        assert_eq!(o.recursive_set, 0);
        assert_eq!(o.recursive_clear, ATTR_RDONLY | ATTR_NOSUID);
        assert!(o.has_recursive_attrs());
    }

    #[test]
    fn special_options() {
        let o = parse(&["tmpcopyup", "mode=1777"]);
        assert!(o.tmpcopyup);
        assert_eq!(o.data, "mode=1777");
        assert!(parse(&["rbind", "idmap"]).idmap);
        assert_eq!(parse(&["nosymfollow"]).flags.bits(), libc::MS_NOSYMFOLLOW);
    }
}
