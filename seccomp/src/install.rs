//! Loading a compiled filter into the calling thread.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::Filter;

impl Filter {
    /// Installs the filter with `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`. Does not set
    /// no_new_privs: the kernel then requires CAP_SYS_ADMIN in the caller's user namespace unless
    /// the runtime set no_new_privs itself (process.noNewPrivileges). Returns the user
    /// notification listener when the filter has SCMP_ACT_NOTIFY rules.
    pub fn install(&self) -> io::Result<Option<OwnedFd>> {
        let prog = libc::sock_fprog {
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `self.program`, alive and unmodified for the call; the kernel
        // copies the program before returning.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if !self.has_listener() {
            return Ok(None);
        }
        // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the return value is a new fd we own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) }))
    }
}
