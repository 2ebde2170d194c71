//! `process.rlimits`: setrlimit(2) with exactly the asked soft and hard values (a hard limit is
//! never raised beyond what the spec asks; EPERM names the limit).

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::SpawnError;

pub(crate) fn apply(rlimits: &[PosixRlimit]) -> Result<(), SpawnError> {
    for rlimit in rlimits {
        let value = libc::rlimit {
            rlim_cur: rlimit.soft(),
            rlim_max: rlimit.hard(),
        };
        // SAFETY: `value` is a valid rlimit that outlives the call.
        if unsafe { libc::setrlimit(resource(rlimit.typ()), &value) } != 0 {
            return Err(SpawnError::setup(
                format!(
                    "setrlimit {} (soft {}, hard {})",
                    rlimit.typ(),
                    rlimit.soft(),
                    rlimit.hard()
                ),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

fn resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}
