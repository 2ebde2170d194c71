//! Syscall name lookup in the generated tables.

use crate::syscalls::{ABSENT, ARCH_COLUMNS, INDEX, IPC, MULTIPLEXED, NAMES, NUMBERS, SOCKETCALL};

/// A syscall name resolved for every architecture.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Syscall {
    numbers: &'static [u32; ARCH_COLUMNS],
    multiplexed: u8,
}

/// Which multiplexer reaches a call, and with which first argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Multiplexer {
    SocketCall(u64),
    Ipc(u64),
}

impl Syscall {
    /// The number on the architecture of `column`, if it has the syscall.
    pub(crate) fn number(&self, column: usize) -> Option<u32> {
        Some(self.numbers[column]).filter(|&n| n != ABSENT)
    }

    /// socketcall(2)/ipc(2) call number of a socket or SysV IPC syscall.
    pub(crate) fn multiplexer(&self) -> Option<Multiplexer> {
        let call = u64::from(self.multiplexed & 0x3f);
        match self.multiplexed & (SOCKETCALL | IPC) {
            SOCKETCALL => Some(Multiplexer::SocketCall(call)),
            IPC => Some(Multiplexer::Ipc(call)),
            _ => None,
        }
    }
}

/// `name` resolved, or `None` when no architecture has it.
pub(crate) fn resolve(name: &str) -> Option<Syscall> {
    let mask = INDEX.len() - 1;
    let mut slot = fnv1a(name.as_bytes()) as usize & mask;
    loop {
        let entry = INDEX[slot];
        if entry == u16::MAX {
            return None;
        }
        let i = entry as usize;
        if NAMES[i] == name {
            return Some(Syscall {
                numbers: &NUMBERS[i],
                multiplexed: MULTIPLEXED[i],
            });
        }
        slot = (slot + 1) & mask;
    }
}

/// 32-bit FNV-1a, the hash hack/gen_syscalls.py indexes [`INDEX`] with.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(name: &str, column: usize) -> Option<u32> {
        resolve(name).and_then(|s| s.number(column))
    }

    #[test]
    fn every_name_is_found_at_its_own_row() {
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(
                resolve(name).map(|s| s.numbers),
                Some(&NUMBERS[i]),
                "{name}"
            );
        }
        assert!(resolve("no_such_syscall").is_none());
        assert!(resolve("").is_none());
    }

    #[test]
    fn newest_syscalls_are_known() {
        for name in [
            "getxattrat",
            "setxattrat",
            "listxattrat",
            "removexattrat",
            "mseal",
            "statmount",
            "listmount",
        ] {
            assert!(resolve(name).is_some(), "{name}");
        }
        assert_eq!(number("getxattrat", 0), Some(464));
        assert_eq!(number("mseal", 2), Some(0x4000_0000 | 462));
        assert_eq!(number("socket", 1), Some(359));
        assert_eq!(number("set_tls", 4), Some(0x0f_0005));
        assert_eq!(number("uretprobe", 2), None);
        assert_eq!(number("map_shadow_stack", 2), None);
    }

    #[test]
    fn multiplexed_calls() {
        let mux = |name| resolve(name).unwrap().multiplexer();
        assert_eq!(mux("socket"), Some(Multiplexer::SocketCall(1)));
        assert_eq!(mux("recv"), Some(Multiplexer::SocketCall(10)));
        assert_eq!(mux("sendmmsg"), Some(Multiplexer::SocketCall(20)));
        assert_eq!(mux("semop"), Some(Multiplexer::Ipc(1)));
        assert_eq!(mux("shmctl"), Some(Multiplexer::Ipc(24)));
        assert_eq!(mux("read"), None);
        assert_eq!(mux("socketcall"), None);
    }
}
