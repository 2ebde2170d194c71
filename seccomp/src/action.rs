//! OCI seccomp actions to `SECCOMP_RET_*` values (seccomp(2), "Filter return values").

use oci_spec::runtime::LinuxSeccompAction;

use crate::error::SeccompError;

/// EPERM: the data of SCMP_ACT_ERRNO and SCMP_ACT_TRACE when `errnoRet` is absent (as runc).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// The filter return value of `action`; `errno_ret` is the data of ERRNO and TRACE, `field` names
/// it in errors.
pub(crate) fn ret_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: impl FnOnce() -> String,
) -> Result<u32, SeccompError> {
    let data = || {
        let value = errno_ret.unwrap_or(DEFAULT_ERRNO);
        if value > libc::SECCOMP_RET_DATA {
            return Err(SeccompError::ErrnoOutOfRange {
                field: field(),
                value,
            });
        }
        Ok(value)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            libc::SECCOMP_RET_KILL_THREAD
        }
        LinuxSeccompAction::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data()?,
        LinuxSeccompAction::ScmpActTrace => libc::SECCOMP_RET_TRACE | data()?,
        LinuxSeccompAction::ScmpActLog => libc::SECCOMP_RET_LOG,
        LinuxSeccompAction::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
    })
}
