//! The bpf(2) calls for device programs: load, attach to a cgroup, list and detach the old ones.
//! libc has the syscall number but not union bpf_attr, so each command's part of the union is a
//! #[repr(C)] struct of its own; the kernel zero-fills the rest (bpf(2): "size" of the attr).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use super::program::Insn;
use crate::error::CgroupError;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached; all must allow (cgroup-v2.rst "Device controller").
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of struct bpf_prog_info: enough to learn a program's id.
#[repr(C)]
#[derive(Default)]
struct ProgInfoHead {
    prog_type: u32,
    id: u32,
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a live, initialized #[repr(C)] struct laid out as the kernel's part of union
    // bpf_attr for `cmd`; its size is passed so the kernel reads no further. Pointers inside it
    // (insns, license, log, prog_ids, info) point to buffers that outlive the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    Errno::result(ret)
}

fn fd_from(ret: libc::c_long) -> OwnedFd {
    // SAFETY: bpf() returned a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(ret as i32) }
}

/// BPF_PROG_LOAD. Memory for the program is charged to the memory cgroup (Linux ≥ 5.11), so
/// RLIMIT_MEMLOCK is neither checked nor raised. On a verifier rejection the call is repeated with
/// a log, for the error message.
pub(crate) fn load(prog: &[Insn], cgroup: &Path) -> Result<OwnedFd, CgroupError> {
    let license = b"Apache\0";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..4].copy_from_slice(b"husk");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(fd_from(fd)),
        Err(errno) => {
            let mut log = vec![0u8; 4096];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            Err(CgroupError::Bpf {
                op: "load device program",
                path: cgroup.to_owned(),
                errno: errno.into(),
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

/// BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI (the target must be opened for reading, not O_PATH).
pub(crate) fn attach(
    cgroup_fd: BorrowedFd,
    prog_fd: BorrowedFd,
    cgroup: &Path,
) -> Result<(), CgroupError> {
    let mut attr = AttachAttr {
        target_fd: cgroup_fd.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map(drop)
        .map_err(|errno| CgroupError::Bpf {
            op: "attach device program",
            path: cgroup.to_owned(),
            errno: errno.into(),
            log: String::new(),
        })
}

/// The ids of the device programs attached to the cgroup itself.
pub(crate) fn attached(cgroup_fd: BorrowedFd, cgroup: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).map_err(|errno| CgroupError::Bpf {
        op: "query device programs",
        path: cgroup.to_owned(),
        errno: errno.into(),
        log: String::new(),
    })?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// The kernel's id of a loaded program.
pub(crate) fn id_of(prog_fd: BorrowedFd, cgroup: &Path) -> Result<u32, CgroupError> {
    let mut info = ProgInfoHead::default();
    let mut attr = InfoByFdAttr {
        bpf_fd: prog_fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfoHead>() as u32,
        info: &mut info as *mut ProgInfoHead as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).map_err(|errno| CgroupError::Bpf {
        op: "get device program info",
        path: cgroup.to_owned(),
        errno: errno.into(),
        log: String::new(),
    })?;
    Ok(info.id)
}

/// Detaches the program with `id` from the cgroup. A program that went away meanwhile is fine.
pub(crate) fn detach(cgroup_fd: BorrowedFd, id: u32, cgroup: &Path) -> Result<(), CgroupError> {
    let err = |errno: Errno| CgroupError::Bpf {
        op: "detach device program",
        path: cgroup.to_owned(),
        errno: errno.into(),
        log: String::new(),
    };
    let mut get = GetFdByIdAttr {
        prog_id: id,
        ..Default::default()
    };
    let prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut get) {
        Ok(fd) => fd_from(fd),
        Err(Errno::ENOENT) => return Ok(()),
        Err(errno) => return Err(err(errno)),
    };
    let mut attr = AttachAttr {
        target_fd: cgroup_fd.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_DETACH, &mut attr) {
        Ok(_) | Err(Errno::ENOENT) => Ok(()),
        Err(errno) => Err(err(errno)),
    }
}
