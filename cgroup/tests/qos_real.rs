//! The QoS engine against the machine's real cgroup2 hierarchy (run inside a private mount namespace
//! with cgroup2 on /sys/fs/cgroup, or on a v2 host or VM). Every cgroup made here is named after the
//! test and the pid, and removed even when an assertion fails.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use husk_cgroup::qos::{self, Policy, QosClass};
use husk_cgroup::{Cgroup, Hierarchy};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::{
    LinuxBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder, Spec, SpecBuilder,
};

struct Scratch {
    hierarchy: Hierarchy,
    top: PathBuf,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        Scratch {
            hierarchy: Hierarchy::detect().expect("a cgroup2 hierarchy"),
            top: PathBuf::from(format!("/husk-qos-test-{}-{test}", std::process::id())),
        }
    }

    fn abs(&self, rel: &Path) -> PathBuf {
        self.hierarchy.root().join(rel.strip_prefix("/").unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Cgroup::open(&self.hierarchy, &self.top).destroy();
    }
}

fn has_controller(h: &Hierarchy, name: &str) -> bool {
    std::fs::read_to_string(h.root().join("cgroup.controllers"))
        .unwrap()
        .split_whitespace()
        .any(|c| c == name)
}

/// A Burstable container: 256 MiB request (reservation), 1 GiB limit, 512 shares.
fn burstable_spec() -> Spec {
    let memory = LinuxMemoryBuilder::default()
        .limit(1i64 << 30)
        .reservation(1i64 << 28)
        .build()
        .unwrap();
    let cpu = LinuxCpuBuilder::default().shares(512u64).build().unwrap();
    let resources = LinuxResourcesBuilder::default()
        .memory(memory)
        .cpu(cpu)
        .build()
        .unwrap();
    let linux = LinuxBuilder::default()
        .resources(resources)
        .build()
        .unwrap();
    SpecBuilder::default().linux(linux).build().unwrap()
}

#[test]
fn create_apply_reconcile_show_destroy() {
    let s = Scratch::new("cycle");
    let h = &s.hierarchy;
    let rel = s.top.join("pod/ctr");
    let spec = burstable_spec();
    let class = qos::classify(&spec).unwrap();
    assert_eq!(class.class, QosClass::Burstable);
    let plan = qos::plan(&class, &spec, &Policy::default());
    let memory = has_controller(h, "memory");
    let resources = memory.then(|| spec.linux().as_ref().unwrap().resources().clone().unwrap());
    let cg = Cgroup::create(h, &rel, resources.as_ref()).unwrap();
    // On a host without the memory or cpu controller, the QoS writes are skipped, not errors.
    cg.apply_qos(&plan).unwrap();
    qos::reconcile_ancestors(h, &rel).unwrap();
    let status = qos::show(h, &rel).unwrap();
    assert_eq!(status.protection.len(), 3);
    if memory {
        let min = |p: &Path| std::fs::read_to_string(s.abs(p).join("memory.min")).unwrap();
        assert_eq!(min(&rel).trim(), "268435456");
        assert_eq!(min(&s.top.join("pod")).trim(), "268435456");
        assert_eq!(min(&s.top).trim(), "268435456");
        assert!(status.warnings.is_empty(), "{:?}", status.warnings);
        cg.destroy().unwrap();
        qos::reconcile_ancestors(h, &rel).unwrap();
        assert_eq!(min(&s.top).trim(), "0");
    } else {
        assert!(!cg.dir().join("memory.min").exists());
        assert_eq!(
            status.warnings,
            ["no memory.min: the memory controller is not enabled for this cgroup, no memory protection"]
        );
        cg.destroy().unwrap();
        qos::reconcile_ancestors(h, &rel).unwrap();
    }
}

/// husk records its ancestor values in the user.husk.qos xattr of the cgroup directory: cgroupfs
/// must keep user xattrs (Linux ≥ 5.7).
#[test]
fn cgroupfs_keeps_user_xattrs() {
    let s = Scratch::new("xattr");
    let cg = Cgroup::create(&s.hierarchy, &s.top, None).unwrap();
    let path = CString::new(cg.dir().as_os_str().as_bytes()).unwrap();
    let value = b"memory.min=4096";
    // SAFETY: NUL-terminated path and name; value readable for its length.
    let ret = unsafe {
        libc::setxattr(
            path.as_ptr(),
            c"user.husk.qos".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(ret, 0, "{}", std::io::Error::last_os_error());
    let mut buf = [0u8; 64];
    // SAFETY: NUL-terminated path and name; buf writable for its length.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"user.husk.qos".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(&buf[..usize::try_from(n).unwrap()], value);
}

/// reconcile_ancestors serializes on an flock of the top ancestor's directory: it waits while
/// another holder has it.
#[test]
fn reconcile_waits_for_the_lock_on_the_top_ancestor() {
    let s = Scratch::new("lock");
    let rel = s.top.join("pod/ctr");
    Cgroup::create(&s.hierarchy, &rel, None).unwrap();
    let top = File::open(s.abs(&s.top)).unwrap();
    let held = Flock::lock(top, FlockArg::LockExclusive).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let h = s.hierarchy.clone();
    let waiter = std::thread::spawn({
        let rel = rel.clone();
        move || {
            qos::reconcile_ancestors(&h, &rel).unwrap();
            done_tx.send(()).unwrap();
        }
    });
    assert!(
        done_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "reconcile ran while the lock was held"
    );
    drop(held);
    done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    waiter.join().unwrap();
}
