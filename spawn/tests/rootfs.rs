//! rootfs::{prepare, pivot, finalize} against the real kernel, as root.
//!
//! Each test forks; the child unshares a mount namespace (plus UTS and IPC), runs the three steps
//! on a busybox rootfs in a tempdir and checks the result from inside, reporting failures through
//! a pipe. The child's mounts die with its namespace; the parent then checks the host is
//! untouched (no mount of the tempdir in its mountinfo, no escaped path).

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use husk_spawn::rootfs::{devfs, finalize, pivot, prepare, RootfsContext, RuntimeDev};
use nix::mount::MsFlags;
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{major, minor};
use nix::sys::statfs::{statfs, FsType};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, ForkResult};
use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType, Mount, MountBuilder, Spec,
};

type Check = Result<(), String>;

const TMPFS: FsType = FsType(0x0102_1994);
const PROC: FsType = FsType(0x9fa0);
const SYSFS: FsType = FsType(0x6265_6572);
const DEVPTS: FsType = FsType(0x1cd1);
const MQUEUE: FsType = FsType(0x1980_0202);
const CGROUP2: FsType = FsType(0x6367_7270);

/// A busybox rootfs in a tempdir.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new() -> Bundle {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy /bin/busybox");
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
        for d in ["proc", "sys", "dev", "etc", "tmp"] {
            fs::create_dir(rootfs.join(d)).unwrap();
        }
        Bundle { dir }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// A host directory next to the rootfs, for bind sources.
    fn host_dir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::create_dir_all(&path).unwrap();
        path
    }
}

/// The spec `runc spec` writes (oci-spec's default), rooted at `rootfs`, root read-only.
fn default_spec(rootfs: &Path) -> Spec {
    let mut spec = Spec::default();
    let mut root = spec.root().clone().unwrap();
    root.set_path(rootfs.to_path_buf());
    spec.set_root(Some(root));
    spec
}

/// A spec with only the given mounts, no masked/readonly paths, root writable.
fn bare_spec(rootfs: &Path, mounts: Vec<Mount>) -> Spec {
    let mut spec = default_spec(rootfs);
    spec.set_mounts(Some(mounts));
    let mut root = spec.root().clone().unwrap();
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    let mut linux = spec.linux().clone().unwrap();
    linux.set_masked_paths(None).set_readonly_paths(None);
    spec.set_linux(Some(linux));
    spec
}

fn mount_entry(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .unwrap()
}

#[derive(Clone, Copy)]
struct Options<'a> {
    cgroup_dir: Option<&'a Path>,
    new_user_namespace: bool,
    new_cgroup_namespace: bool,
    no_pivot: bool,
    /// After `before`, enter a real new user namespace (root mapped to root only) and a mount
    /// namespace owned by it: the host's mounts are then locked and mknod is refused.
    enter_user_namespace: bool,
    /// /dev built as the runtime does (devfs::build, before the unshare) and handed to prepare.
    runtime_dev: RuntimeDevMode,
}

const PLAIN: Options<'static> = Options {
    cgroup_dir: None,
    new_user_namespace: false,
    new_cgroup_namespace: false,
    no_pivot: false,
    enter_user_namespace: false,
    runtime_dev: RuntimeDevMode::None,
};

/// Who makes /dev in [`in_container`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuntimeDevMode {
    /// The init mounts and populates it.
    None,
    /// The runtime builds and populates it.
    Populated,
    /// The runtime builds it but reports its nodes incomplete (as when its mknod is refused):
    /// the init makes them.
    Unpopulated,
}

/// Runs `before` (host side, in the new namespace), prepare/pivot/finalize, then `check` inside
/// the container, in a forked child. Panics with the child's message on failure, and when the
/// host's mount table afterwards mentions the bundle.
fn in_container(
    bundle: &Bundle,
    spec: &Spec,
    opts: Options,
    before: impl FnOnce() -> Check,
    check: impl FnOnce() -> Check,
) {
    let (read_end, write_end) = pipe().unwrap();
    // SAFETY: the child only runs this test's code and leaves with _exit; glibc keeps malloc
    // usable after fork.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(read_end);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child(bundle, spec, opts, before, check)
            }));
            let message = match outcome {
                Ok(Ok(())) => String::new(),
                Ok(Err(e)) => e,
                Err(_) => "child panicked".to_string(),
            };
            let mut out = fs::File::from(write_end);
            let _ = out.write_all(message.as_bytes());
            // SAFETY: _exit ends the forked child without running the parent's atexit state.
            unsafe { libc::_exit(if message.is_empty() { 0 } else { 1 }) };
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut message = String::new();
            fs::File::from(read_end)
                .read_to_string(&mut message)
                .unwrap();
            let status = waitpid(child, None).unwrap();
            assert!(
                message.is_empty() && status == WaitStatus::Exited(child, 0),
                "in container: {message} ({status:?})"
            );
            let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
            let bundle_path = bundle.dir.path().to_string_lossy().into_owned();
            assert!(
                !mountinfo.contains(&bundle_path),
                "host mount table changed:\n{mountinfo}"
            );
        }
    }
}

fn child(
    bundle: &Bundle,
    spec: &Spec,
    opts: Options,
    before: impl FnOnce() -> Check,
    check: impl FnOnce() -> Check,
) -> Check {
    let dev_plan = (opts.runtime_dev != RuntimeDevMode::None)
        .then(|| devfs::plan(spec).ok_or("no /dev plan for this spec"))
        .transpose()?;
    let built_dev = match &dev_plan {
        Some(plan) => {
            let dev = devfs::build(spec, plan).map_err(|e| format!("devfs::build: {e}"))?;
            if opts.runtime_dev == RuntimeDevMode::Populated {
                devfs::populate(spec, std::os::fd::AsFd::as_fd(&dev))
                    .map_err(|e| format!("devfs::populate: {e}"))?;
            }
            Some(dev)
        }
        None => None,
    };
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    if opts.new_cgroup_namespace {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    unshare(flags).map_err(|e| format!("unshare: {e}"))?;
    before()?;
    if opts.enter_user_namespace {
        enter_user_namespace()?;
    }
    let rootfs = bundle.rootfs();
    let ctx = RootfsContext {
        spec,
        rootfs: &rootfs,
        cgroup_dir: opts.cgroup_dir,
        new_user_namespace: opts.new_user_namespace || opts.enter_user_namespace,
        new_cgroup_namespace: opts.new_cgroup_namespace,
        runtime_dev: None,
    };
    let built_dev = std::cell::Cell::new(built_dev);
    let receive = || Ok(built_dev.take());
    let populated = || Ok(opts.runtime_dev == RuntimeDevMode::Populated);
    let ctx = RootfsContext {
        runtime_dev: dev_plan.as_ref().map(|plan| RuntimeDev {
            index: plan.index,
            receive: &receive,
            populated: &populated,
        }),
        ..ctx
    };
    prepare(&ctx).map_err(|e| format!("prepare: {e}"))?;
    pivot(&rootfs, opts.no_pivot).map_err(|e| format!("pivot: {e}"))?;
    finalize(spec).map_err(|e| format!("finalize: {e}"))?;
    check()
}

/// unshare(CLONE_NEWUSER) mapping uid and gid 0 to themselves (a single id needs no privilege
/// in the parent namespace, user_namespaces(7)), then a mount, UTS and IPC namespace it owns.
fn enter_user_namespace() -> Check {
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| format!("unshare user: {e}"))?;
    for (file, content) in [
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", "0 0 1"),
        ("/proc/self/gid_map", "0 0 1"),
    ] {
        fs::write(file, content).map_err(|e| format!("write {file}: {e}"))?;
    }
    let flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    unshare(flags).map_err(|e| format!("unshare in user namespace: {e}"))
}

fn ensure(cond: bool, what: impl Into<String>) -> Check {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn fs_type(path: &str) -> Result<FsType, String> {
    statfs(path)
        .map(|s| s.filesystem_type())
        .map_err(|e| format!("statfs {path}: {e}"))
}

fn is_readonly(path: &str) -> Result<bool, String> {
    statvfs(path)
        .map(|s| s.flags().contains(FsFlags::ST_RDONLY))
        .map_err(|e| format!("statvfs {path}: {e}"))
}

fn write_error(path: &str) -> Option<ErrorKind> {
    fs::write(path, b"x").err().map(|e| e.kind())
}

fn raw_write_errno(path: &str) -> Option<i32> {
    fs::write(path, b"x").err().and_then(|e| e.raw_os_error())
}

fn check_char_device(path: &str, want_major: u64, want_minor: u64, want_mode: u32) -> Check {
    let meta = fs::metadata(path).map_err(|e| format!("stat {path}: {e}"))?;
    ensure(
        meta.file_type().is_char_device(),
        format!("{path} is not a char device"),
    )?;
    let rdev = meta.rdev();
    ensure(
        (major(rdev), minor(rdev)) == (want_major, want_minor),
        format!("{path} is {}:{}", major(rdev), minor(rdev)),
    )?;
    ensure(
        meta.permissions().mode() & 0o7777 == want_mode,
        format!("{path} mode {:o}", meta.permissions().mode() & 0o7777),
    )
}

fn check_symlink(path: &str, target: &str) -> Check {
    let got = fs::read_link(path).map_err(|e| format!("readlink {path}: {e}"))?;
    ensure(
        got == Path::new(target),
        format!("{path} -> {}", got.display()),
    )
}

#[test]
fn default_runc_spec_gives_a_working_container() {
    let bundle = Bundle::new();
    let spec = default_spec(&bundle.rootfs());
    in_container(
        &bundle,
        &spec,
        PLAIN,
        || Ok(()),
        || {
            ensure(fs_type("/proc")? == PROC, "/proc is not procfs")?;
            ensure(
                fs::read_to_string("/proc/self/stat").is_ok(),
                "/proc/self/stat unreadable",
            )?;
            ensure(fs_type("/dev")? == TMPFS, "/dev is not tmpfs")?;
            for (name, ma, mi) in [
                ("null", 1, 3),
                ("zero", 1, 5),
                ("full", 1, 7),
                ("tty", 5, 0),
                ("random", 1, 8),
                ("urandom", 1, 9),
            ] {
                check_char_device(&format!("/dev/{name}"), ma, mi, 0o666)?;
            }
            fs::write("/dev/null", b"discarded").map_err(|e| format!("write /dev/null: {e}"))?;
            ensure(fs_type("/dev/pts")? == DEVPTS, "/dev/pts is not devpts")?;
            check_symlink("/dev/ptmx", "pts/ptmx")?;
            check_symlink("/dev/fd", "/proc/self/fd")?;
            check_symlink("/dev/stdin", "/proc/self/fd/0")?;
            check_symlink("/dev/stdout", "/proc/self/fd/1")?;
            check_symlink("/dev/stderr", "/proc/self/fd/2")?;
            ensure(fs_type("/dev/shm")? == TMPFS, "/dev/shm is not tmpfs")?;
            let shm_mode = fs::metadata("/dev/shm").unwrap().permissions().mode() & 0o7777;
            ensure(shm_mode == 0o1777, format!("/dev/shm mode {shm_mode:o}"))?;
            fs::write("/dev/shm/x", b"ok").map_err(|e| format!("write /dev/shm: {e}"))?;
            ensure(
                fs_type("/dev/mqueue")? == MQUEUE,
                "/dev/mqueue is not mqueue",
            )?;
            ensure(fs_type("/sys")? == SYSFS, "/sys is not sysfs")?;
            ensure(is_readonly("/sys")?, "/sys is writable")?;
            ensure(
                fs_type("/sys/fs/cgroup")? == CGROUP2,
                "/sys/fs/cgroup is not cgroup2",
            )?;
            ensure(is_readonly("/sys/fs/cgroup")?, "/sys/fs/cgroup is writable")?;
            // maskedPaths: a file reads empty, a directory is an empty read-only tmpfs.
            let timers =
                fs::read("/proc/timer_list").map_err(|e| format!("read /proc/timer_list: {e}"))?;
            ensure(timers.is_empty(), "/proc/timer_list is not masked")?;
            ensure(fs_type("/proc/acpi")? == TMPFS, "/proc/acpi is not masked")?;
            ensure(
                fs_type("/sys/firmware")? == TMPFS,
                "/sys/firmware is not masked",
            )?;
            ensure(
                fs::read_dir("/sys/firmware").unwrap().next().is_none(),
                "/sys/firmware not empty",
            )?;
            // readonlyPaths.
            ensure(is_readonly("/proc/sys")?, "/proc/sys is writable")?;
            ensure(
                raw_write_errno("/proc/sys/kernel/hostname") == Some(libc::EROFS),
                "/proc/sys/kernel/hostname accepted a write",
            )?;
            // root.readonly (oci-spec's default).
            ensure(
                raw_write_errno("/newfile") == Some(libc::EROFS),
                "/ accepted a write",
            )?;
            ensure(is_readonly("/")?, "/ is not read-only")?;
            // The rootfs really is "/": busybox runs.
            let status = std::process::Command::new("/bin/sh")
                .args(["-c", "test -c /dev/null"])
                .status();
            ensure(
                status.map(|s| s.success()).unwrap_or(false),
                "busybox sh failed",
            )
        },
    );
}

#[test]
fn bind_mounts_and_tmpfs_get_their_flags() {
    let bundle = Bundle::new();
    let data = bundle.host_dir("data");
    fs::write(data.join("hello"), b"hello").unwrap();
    let file = bundle.dir.path().join("hosts");
    fs::write(&file, b"127.0.0.1 localhost\n").unwrap();
    let spec = bare_spec(
        &bundle.rootfs(),
        vec![
            mount_entry(
                "/data",
                "bind",
                data.to_str().unwrap(),
                &["rbind", "ro", "rprivate"],
            ),
            mount_entry(
                "/rw",
                "bind",
                data.to_str().unwrap(),
                &["bind", "nosuid", "nodev"],
            ),
            mount_entry(
                "/etc/hosts",
                "bind",
                file.to_str().unwrap(),
                &["rbind", "ro"],
            ),
            mount_entry(
                "/scratch/deep",
                "tmpfs",
                "tmpfs",
                &["nosuid", "size=1m", "mode=700"],
            ),
            mount_entry("/tmp", "tmpfs", "tmpfs", &["nodev"]),
            mount_entry("/ro-tmp", "tmpfs", "tmpfs", &["ro"]),
        ],
    );
    fs::set_permissions(
        bundle.rootfs().join("tmp"),
        fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    in_container(
        &bundle,
        &spec,
        PLAIN,
        || Ok(()),
        || {
            let hello =
                fs::read_to_string("/data/hello").map_err(|e| format!("read /data/hello: {e}"))?;
            ensure(hello == "hello", "wrong /data content")?;
            ensure(is_readonly("/data")?, "/data is writable")?;
            ensure(
                raw_write_errno("/data/new") == Some(libc::EROFS),
                "/data accepted a write",
            )?;
            let rw = statvfs("/rw").unwrap().flags();
            ensure(!rw.contains(FsFlags::ST_RDONLY), "/rw is read-only")?;
            ensure(
                rw.contains(FsFlags::ST_NOSUID | FsFlags::ST_NODEV),
                "/rw lacks nosuid,nodev",
            )?;
            ensure(
                fs::metadata("/etc/hosts").unwrap().is_file(),
                "/etc/hosts is not a file",
            )?;
            ensure(
                fs::read_to_string("/etc/hosts")
                    .unwrap()
                    .contains("localhost"),
                "/etc/hosts content",
            )?;
            ensure(is_readonly("/etc/hosts")?, "/etc/hosts is writable")?;
            ensure(
                fs_type("/scratch/deep")? == TMPFS,
                "/scratch/deep is not tmpfs",
            )?;
            let mode = fs::metadata("/scratch/deep").unwrap().permissions().mode() & 0o7777;
            ensure(mode == 0o700, format!("/scratch/deep mode {mode:o}"))?;
            ensure(
                statvfs("/scratch/deep")
                    .unwrap()
                    .flags()
                    .contains(FsFlags::ST_NOSUID),
                "tmpfs suid",
            )?;
            fs::write("/scratch/deep/f", b"x").map_err(|e| format!("write tmpfs: {e}"))?;
            // A tmpfs over an existing directory keeps the directory's mode (runc).
            let mode = fs::metadata("/tmp").unwrap().permissions().mode() & 0o7777;
            ensure(mode == 0o750, format!("/tmp mode {mode:o}"))?;
            // A read-only tmpfs is made read-only in finalize.
            ensure(is_readonly("/ro-tmp")?, "/ro-tmp is writable")?;
            ensure(
                write_error("/ro-tmp/x").is_some(),
                "/ro-tmp accepted a write",
            )
        },
    );
    assert_eq!(
        fs::read_dir(&data).unwrap().count(),
        1,
        "the read-only bind source was written"
    );
}

#[test]
fn symlink_in_rootfs_cannot_redirect_a_mount_to_the_host() {
    let bundle = Bundle::new();
    let escape = format!("husk-rootfs-escape-{}", std::process::id());
    let host_path = Path::new("/").join(&escape);
    assert!(!host_path.exists());
    std::os::unix::fs::symlink("/", bundle.rootfs().join("evil")).unwrap();
    // More ".." than the rootfs is deep: unconfined, it would reach the host's "/" (not the
    // bundle's parent, which a shorter chain would reach and the checks below would miss).
    let up = "../".repeat(bundle.rootfs().components().count() + 2);
    std::os::unix::fs::symlink(&up, bundle.rootfs().join("etc/up")).unwrap();
    let data = bundle.host_dir("data");
    let spec = bare_spec(
        &bundle.rootfs(),
        vec![
            mount_entry(&format!("/evil/{escape}"), "tmpfs", "tmpfs", &[]),
            mount_entry(
                &format!("/etc/up/{escape}-bind"),
                "bind",
                data.to_str().unwrap(),
                &["bind"],
            ),
        ],
    );
    let inner = format!("/{escape}");
    in_container(
        &bundle,
        &spec,
        PLAIN,
        || Ok(()),
        || {
            ensure(
                fs_type(&inner)? == TMPFS,
                format!("{inner} is not the tmpfs"),
            )?;
            ensure(
                Path::new(&format!("{inner}-bind")).is_dir(),
                "bind not inside the rootfs",
            )
        },
    );
    assert!(!host_path.exists(), "the mount escaped to the host");
    assert!(
        !Path::new(&format!("/{escape}-bind")).exists(),
        "the bind escaped to the host"
    );
    assert!(
        bundle.rootfs().join(&escape).is_dir(),
        "mount point not created in the rootfs"
    );
}

fn device(
    path: &str,
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    mode: u32,
    id: u32,
) -> LinuxDevice {
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(typ)
        .major(major)
        .minor(minor)
        .file_mode(mode)
        .uid(id)
        .gid(id)
        .build()
        .unwrap()
}

fn spec_with_devices(rootfs: &Path, devices: Vec<LinuxDevice>) -> Spec {
    let mut spec = bare_spec(
        rootfs,
        vec![
            mount_entry("/proc", "proc", "proc", &[]),
            mount_entry("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755"]),
        ],
    );
    let mut linux = spec.linux().clone().unwrap();
    linux.set_devices(Some(devices));
    spec.set_linux(Some(linux));
    spec
}

#[test]
fn linux_devices_are_created_with_mode_and_owner() {
    let bundle = Bundle::new();
    let spec = spec_with_devices(
        &bundle.rootfs(),
        vec![
            device("/dev/husk/mem0", LinuxDeviceType::C, 1, 3, 0o640, 1000),
            device("/dev/fifo0", LinuxDeviceType::P, 0, 0, 0o600, 0),
        ],
    );
    in_container(
        &bundle,
        &spec,
        PLAIN,
        || Ok(()),
        || {
            check_char_device("/dev/husk/mem0", 1, 3, 0o640)?;
            let meta = fs::metadata("/dev/husk/mem0").unwrap();
            ensure(
                (meta.uid(), meta.gid()) == (1000, 1000),
                format!("owner {}:{}", meta.uid(), meta.gid()),
            )?;
            let fifo = fs::metadata("/dev/fifo0").map_err(|e| format!("stat /dev/fifo0: {e}"))?;
            ensure(fifo.file_type().is_fifo(), "/dev/fifo0 is not a fifo")?;
            check_char_device("/dev/null", 1, 3, 0o666)
        },
    );
}

/// Every entry of /dev and /dev/pts (type, mode, device numbers, owner, link target) and the
/// /dev mount's options, as seen in the container.
fn describe_dev() -> Result<String, String> {
    let mut out = String::new();
    for dir in ["/dev", "/dev/pts"] {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| format!("read {dir}: {e}"))?
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let meta = fs::symlink_metadata(&path).unwrap();
            let target = fs::read_link(&path).ok();
            out += &format!(
                "{} {:o} {}:{} {}:{} {target:?}\n",
                path.display(),
                meta.mode(),
                major(meta.rdev()),
                minor(meta.rdev()),
                meta.uid(),
                meta.gid(),
            );
        }
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mountinfo.lines() {
        // mount id, parent id and st_dev differ between any two mounts: the rest must not.
        let fields: Vec<&str> = line.split(' ').collect();
        if fields[4].starts_with("/dev") {
            out += &format!("{}\n", fields[3..].join(" "));
        }
    }
    Ok(out)
}

#[test]
fn dev_built_by_the_runtime_is_the_one_the_init_builds() {
    let listing = |runtime_dev: RuntimeDevMode| {
        let bundle = Bundle::new();
        let mut spec = spec_with_devices(
            &bundle.rootfs(),
            vec![
                device("/dev/fuse", LinuxDeviceType::C, 10, 229, 0o640, 1000),
                device("/dev/fifo0", LinuxDeviceType::P, 0, 0, 0o600, 0),
            ],
        );
        let mut mounts = spec.mounts().clone().unwrap();
        mounts[1] = mount_entry(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"],
        );
        mounts.extend([
            mount_entry(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                ],
            ),
            mount_entry(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "nodev", "mode=1777"],
            ),
            mount_entry("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "nodev"]),
            mount_entry("/dev/extra/dir", "tmpfs", "tmpfs", &["ro"]),
        ]);
        spec.set_mounts(Some(mounts));
        let mut process = spec.process().clone().unwrap();
        process.set_terminal(Some(true));
        spec.set_process(Some(process));
        let opts = Options {
            runtime_dev,
            ..PLAIN
        };
        in_container(
            &bundle,
            &spec,
            opts,
            || Ok(()),
            || fs::write("/tmp/dev-listing", describe_dev()?).map_err(|e| e.to_string()),
        );
        fs::read_to_string(bundle.rootfs().join("tmp/dev-listing")).unwrap()
    };
    let by_init = listing(RuntimeDevMode::None);
    assert!(
        by_init.contains("/dev/fuse 20640 10:229 1000:1000"),
        "{by_init}"
    );
    assert!(by_init.contains("/dev/console 100620"), "{by_init}");
    assert_eq!(listing(RuntimeDevMode::Populated), by_init);
    // Nodes the runtime could not make are the init's to make.
    assert_eq!(listing(RuntimeDevMode::Unpopulated), by_init);
}

/// The runtime's /dev is outside its mount namespace once sent: where its mknod is refused it
/// reports the node (the init then makes it, binding the host's, as the test above shows) instead
/// of trying a bind that cannot go there.
#[test]
fn the_runtime_reports_a_refused_mknod_instead_of_binding() {
    let bundle = Bundle::new();
    let spec = spec_with_devices(&bundle.rootfs(), vec![]);
    let message = in_forked_child(|| {
        // In a user namespace of our own, mknod is refused (user_namespaces(7)).
        enter_user_namespace()
            .and_then(|()| devfs::plan(&spec).ok_or("no plan".to_string()))
            .and_then(|plan| devfs::build(&spec, &plan).map_err(|e| format!("build: {e}")))
            .map(
                |dev| match devfs::populate(&spec, std::os::fd::AsFd::as_fd(&dev)) {
                    Ok(()) => "populated".to_string(),
                    Err(e) => e.to_string(),
                },
            )
            .unwrap_or_else(|e| e)
    });
    assert!(
        message.starts_with("mknod /dev/null: operation not permitted"),
        "{message}"
    );
}

#[test]
fn user_namespace_mode_binds_host_device_nodes() {
    let bundle = Bundle::new();
    let spec = spec_with_devices(
        &bundle.rootfs(),
        vec![device("/dev/kmsg", LinuxDeviceType::C, 1, 11, 0o600, 0)],
    );
    let host_mode = |path: &str| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    let (null_mode, kmsg_mode) = (host_mode("/dev/null"), host_mode("/dev/kmsg"));
    let opts = Options {
        new_user_namespace: true,
        ..PLAIN
    };
    in_container(
        &bundle,
        &spec,
        opts,
        || Ok(()),
        || {
            // The host's nodes, bind-mounted: same numbers and the host's modes (not 0666 / 0600).
            check_char_device("/dev/null", 1, 3, null_mode)?;
            fs::write("/dev/null", b"x").map_err(|e| format!("write /dev/null: {e}"))?;
            check_char_device("/dev/kmsg", 1, 11, kmsg_mode)?;
            let same_fs =
                fs::metadata("/dev/kmsg").unwrap().dev() == fs::metadata("/dev").unwrap().dev();
            ensure(
                !same_fs,
                "/dev/kmsg is a node on the /dev tmpfs, not the host's bind-mounted",
            )
        },
    );
}

#[test]
fn rro_makes_submounts_read_only_and_ro_does_not() {
    let bundle = Bundle::new();
    let data = bundle.host_dir("data");
    fs::create_dir(data.join("sub")).unwrap();
    let sub = data.join("sub");
    let spec = bare_spec(
        &bundle.rootfs(),
        vec![
            mount_entry("/rro", "bind", data.to_str().unwrap(), &["rbind", "rro"]),
            mount_entry("/ro", "bind", data.to_str().unwrap(), &["rbind", "ro"]),
        ],
    );
    let before = || {
        // Private first: the submount must stay in this namespace.
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None::<&str>,
        )
        .map_err(|e| format!("rslave /: {e}"))?;
        nix::mount::mount(
            Some("tmpfs"),
            &sub,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| format!("mount submount: {e}"))
    };
    in_container(&bundle, &spec, PLAIN, before, || {
        ensure(fs_type("/rro/sub")? == TMPFS, "submount missing under /rro")?;
        ensure(is_readonly("/rro")?, "/rro is writable")?;
        ensure(is_readonly("/rro/sub")?, "/rro/sub is writable")?;
        ensure(is_readonly("/ro")?, "/ro is writable")?;
        ensure(
            !is_readonly("/ro/sub")?,
            "/ro/sub is read-only: ro must not be recursive",
        )
    });
}

#[test]
fn cgroup_mount_binds_the_container_cgroup_without_a_cgroup_namespace() {
    let bundle = Bundle::new();
    let spec = bare_spec(
        &bundle.rootfs(),
        vec![mount_entry(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )],
    );
    // The host's cgroup2: /sys/fs/cgroup itself inside hack/test-host, else the hybrid layout's.
    let cgroup2 = match fs_type("/sys/fs/cgroup") {
        Ok(CGROUP2) => Path::new("/sys/fs/cgroup"),
        _ => Path::new("/sys/fs/cgroup/unified"),
    };
    let opts = Options {
        cgroup_dir: Some(cgroup2),
        ..PLAIN
    };
    in_container(
        &bundle,
        &spec,
        opts,
        || Ok(()),
        || {
            ensure(fs_type("/sys/fs/cgroup")? == CGROUP2, "not cgroup2")?;
            ensure(is_readonly("/sys/fs/cgroup")?, "cgroup mount is writable")?;
            let flags = statvfs("/sys/fs/cgroup").unwrap().flags();
            ensure(
                flags.contains(FsFlags::ST_NOSUID | FsFlags::ST_NOEXEC | FsFlags::ST_NODEV),
                "flags lost",
            )?;
            ensure(
                Path::new("/sys/fs/cgroup/cgroup.procs").exists(),
                "no cgroup.procs",
            )
        },
    );
}

#[test]
fn cgroup_mount_in_a_cgroup_namespace_is_a_fresh_cgroup2() {
    let bundle = Bundle::new();
    let spec = bare_spec(
        &bundle.rootfs(),
        vec![mount_entry(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "ro"],
        )],
    );
    let opts = Options {
        new_cgroup_namespace: true,
        ..PLAIN
    };
    in_container(
        &bundle,
        &spec,
        opts,
        || Ok(()),
        || {
            ensure(fs_type("/sys/fs/cgroup")? == CGROUP2, "not cgroup2")?;
            ensure(is_readonly("/sys/fs/cgroup")?, "cgroup mount is writable")?;
            ensure(
                Path::new("/sys/fs/cgroup/cgroup.procs").exists(),
                "no cgroup.procs",
            )
        },
    );
}

#[test]
fn no_pivot_moves_the_rootfs_chroots_and_hides_the_host_proc_and_sys() {
    let bundle = Bundle::new();
    let spec = bare_spec(
        &bundle.rootfs(),
        vec![mount_entry("/proc", "proc", "proc", &["nosuid"])],
    );
    let opts = Options {
        no_pivot: true,
        ..PLAIN
    };
    // An fd of the namespace's old "/", opened in the child: through it the check looks at what
    // is still mounted on the host's /proc and /sys in the container's mount namespace.
    let old_root = std::cell::Cell::new(-1);
    let before = || {
        let fd = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_PATH,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| format!("open /: {e}"))?;
        old_root.set(std::os::fd::IntoRawFd::into_raw_fd(fd));
        Ok(())
    };
    in_container(&bundle, &spec, opts, before, || {
        ensure(
            Path::new("/bin/busybox").is_file(),
            "/bin/busybox missing: not in the rootfs",
        )?;
        ensure(fs_type("/proc")? == PROC, "/proc is not procfs")?;
        let fd = old_root.get();
        ensure(
            fs_type(&format!("/proc/self/fd/{fd}/proc"))? != PROC,
            "host /proc still mounted",
        )?;
        ensure(
            fs_type(&format!("/proc/self/fd/{fd}/sys"))? != SYSFS,
            "host /sys still mounted",
        )
    });
}

#[test]
fn shared_root_propagation_still_pivots() {
    let bundle = Bundle::new();
    let mut spec = bare_spec(
        &bundle.rootfs(),
        vec![mount_entry("/proc", "proc", "proc", &[])],
    );
    let mut linux = spec.linux().clone().unwrap();
    linux.set_rootfs_propagation(Some("rshared".to_string()));
    spec.set_linux(Some(linux));
    in_container(
        &bundle,
        &spec,
        PLAIN,
        || Ok(()),
        || {
            ensure(Path::new("/bin/busybox").is_file(), "not in the rootfs")?;
            let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
            let root_line = info
                .lines()
                .find(|l| l.split(' ').nth(4) == Some("/"))
                .unwrap_or_default();
            ensure(
                root_line.contains("shared:"),
                format!("/ is not shared: {root_line}"),
            )
        },
    );
}

/// The Display of prepare's error for `mounts` (in a forked child with its own mount
/// namespace), or "prepare succeeded".
fn prepare_error(mounts: Vec<Mount>) -> String {
    let bundle = Bundle::new();
    let rootfs = bundle.rootfs();
    let spec = bare_spec(&rootfs, mounts);
    in_forked_child(|| match unshare(CloneFlags::CLONE_NEWNS) {
        Err(e) => format!("unshare: {e}"),
        Ok(()) => {
            let ctx = RootfsContext {
                spec: &spec,
                rootfs: &rootfs,
                cgroup_dir: None,
                new_user_namespace: false,
                new_cgroup_namespace: false,
                runtime_dev: None,
            };
            match prepare(&ctx) {
                Ok(()) => "prepare succeeded".to_string(),
                Err(e) => e.to_string(),
            }
        }
    })
}

/// Runs `f` in a forked child (its namespaces and mounts die with it) and returns what it said.
fn in_forked_child(f: impl FnOnce() -> String) -> String {
    let (read_end, write_end) = pipe().unwrap();
    // SAFETY: as in `in_container`.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(read_end);
            let message = f();
            let _ = fs::File::from(write_end).write_all(message.as_bytes());
            // SAFETY: as in `in_container`.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut message = String::new();
            fs::File::from(read_end)
                .read_to_string(&mut message)
                .unwrap();
            waitpid(child, None).unwrap();
            message
        }
    }
}

#[test]
fn errors_name_the_step_and_the_container_path() {
    let missing = mount_entry("/data", "bind", "/nonexistent-husk-source", &["rbind"]);
    assert_eq!(
        prepare_error(vec![missing]),
        "mount /nonexistent-husk-source on /data: no such file or directory (ENOENT)"
    );
    let idmapped = mount_entry("/data", "bind", "/tmp", &["rbind", "idmap"]);
    assert_eq!(
        prepare_error(vec![idmapped]),
        "mount /tmp on /data: idmapped mounts are not supported"
    );
}

#[test]
fn nothing_is_mounted_inside_proc_but_the_lxcfs_files() {
    let proc = mount_entry("/proc", "proc", "proc", &[]);
    let over_attr = mount_entry("/proc/self/attr", "tmpfs", "tmpfs", &[]);
    assert_eq!(
        prepare_error(vec![proc.clone(), over_attr]),
        "mount tmpfs on /proc/self/attr: the destination is inside /proc"
    );
    // lxcfs-style file binds are allowed; the next (bad) entry proves the first one mounted.
    let meminfo = mount_entry("/proc/meminfo", "bind", "/proc/meminfo", &["bind"]);
    let missing = mount_entry("/x", "bind", "/nonexistent-husk-source", &["bind"]);
    assert_eq!(
        prepare_error(vec![proc, meminfo, missing]),
        "mount /nonexistent-husk-source on /x: no such file or directory (ENOENT)"
    );
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_covered_directory() {
    let bundle = Bundle::new();
    let etc = bundle.rootfs().join("etc");
    fs::write(etc.join("passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::create_dir(etc.join("conf.d")).unwrap();
    fs::write(etc.join("conf.d/secret"), b"s3cret").unwrap();
    fs::set_permissions(etc.join("conf.d/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(etc.join("conf.d/secret"), Some(1000), Some(1001)).unwrap();
    std::os::unix::fs::symlink("passwd", etc.join("link")).unwrap();
    let spec = bare_spec(
        &bundle.rootfs(),
        vec![mount_entry(
            "/etc",
            "tmpfs",
            "tmpfs",
            &["tmpcopyup", "nosuid"],
        )],
    );
    in_container(
        &bundle,
        &spec,
        PLAIN,
        || Ok(()),
        || {
            ensure(fs_type("/etc")? == TMPFS, "/etc is not tmpfs")?;
            let passwd =
                fs::read_to_string("/etc/passwd").map_err(|e| format!("read /etc/passwd: {e}"))?;
            ensure(passwd.starts_with("root:x:0:0"), "/etc/passwd content")?;
            let secret =
                fs::metadata("/etc/conf.d/secret").map_err(|e| format!("stat secret: {e}"))?;
            ensure(secret.permissions().mode() & 0o7777 == 0o600, "secret mode")?;
            ensure((secret.uid(), secret.gid()) == (1000, 1001), "secret owner")?;
            ensure(
                fs::read("/etc/conf.d/secret").unwrap() == b"s3cret",
                "secret content",
            )?;
            check_symlink("/etc/link", "passwd")?;
            fs::write("/etc/new", b"x").map_err(|e| format!("write /etc/new: {e}"))
        },
    );
    assert!(
        !etc.join("new").exists(),
        "a write to the tmpfs reached the rootfs"
    );
}

#[test]
fn in_a_user_namespace_locked_flags_are_kept_and_sysfs_falls_back_to_a_bind() {
    let bundle = Bundle::new();
    let locked = bundle.host_dir("locked");
    let mut spec = spec_with_devices(
        &bundle.rootfs(),
        vec![device("/dev/kmsg", LinuxDeviceType::C, 1, 11, 0o600, 0)],
    );
    let mut mounts = spec.mounts().clone().unwrap();
    mounts.retain(|m| m.destination() != Path::new("/proc"));
    mounts.extend([
        mount_entry(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666"],
        ),
        mount_entry(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount_entry(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount_entry(
            "/locked",
            "bind",
            locked.to_str().unwrap(),
            &["rbind", "ro"],
        ),
    ]);
    spec.set_mounts(Some(mounts));
    let mut root = spec.root().clone().unwrap();
    root.set_readonly(Some(true));
    spec.set_root(Some(root));
    let before = || {
        // A nosuid,nodev,noexec mount made by the host's root: locked once copied into the
        // user namespace's mount namespace.
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None::<&str>,
        )
        .map_err(|e| format!("rslave /: {e}"))?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        nix::mount::mount(Some("tmpfs"), &locked, Some("tmpfs"), flags, None::<&str>)
            .map_err(|e| format!("mount locked source: {e}"))
    };
    let opts = Options {
        enter_user_namespace: true,
        ..PLAIN
    };
    let kmsg_mode = fs::metadata("/dev/kmsg").unwrap().permissions().mode() & 0o7777;
    in_container(&bundle, &spec, opts, before, || {
        check_char_device("/dev/kmsg", 1, 11, kmsg_mode)?;
        ensure(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device(),
            "/dev/null",
        )?;
        ensure(fs_type("/dev/pts")? == DEVPTS, "/dev/pts is not devpts")?;
        ensure(fs_type("/sys")? == SYSFS, "/sys is not sysfs")?;
        ensure(is_readonly("/sys")?, "/sys is writable")?;
        let flags = statvfs("/locked").unwrap().flags();
        ensure(flags.contains(FsFlags::ST_RDONLY), "/locked is writable")?;
        ensure(
            flags.contains(FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_NOEXEC),
            "locked flags lost",
        )?;
        ensure(
            raw_write_errno("/newfile") == Some(libc::EROFS),
            "/ accepted a write",
        )
    });
}
