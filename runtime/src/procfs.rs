//! What husk reads about a process from `/proc/<pid>/stat` (proc(5)).
use std::io::Read;

/// The fields of `/proc/<pid>/stat` husk needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: R, S, D, Z (zombie), X (dead), T, t, ...
    pub state: char,
    /// Field 22: start time in clock ticks after boot. (pid, starttime) identifies a process even
    /// after its pid is reused.
    pub start_time: u64,
}

impl ProcStat {
    /// None when the process does not exist. One open and one read: the file is a few hundred
    /// bytes (comm is at most 16), well under the buffer.
    pub fn read(pid: i32) -> Option<ProcStat> {
        let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
        let mut buf = [0u8; 1024];
        let len = file.read(&mut buf).ok()?;
        parse(std::str::from_utf8(&buf[..len]).ok()?)
    }

    /// A process that has exited but is not reaped yet is stopped as far as a container goes.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

fn parse(text: &str) -> Option<ProcStat> {
    // comm (field 2) is in parentheses and may itself contain ')' and spaces: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4..=21 come before starttime.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_comm_with_parentheses_and_spaces() {
        let line =
            "4422 (sh (x) y) S 1 4422 4422 0 -1 4194560 96 0 0 0 0 0 0 0 20 0 1 0 123456 2445312 \
                    201 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse(line),
            Some(ProcStat {
                state: 'S',
                start_time: 123456
            })
        );
        assert_eq!(parse("1 (x) Z"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = ProcStat::read(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        assert!(me.start_time > 0);
        assert_eq!(ProcStat::read(std::process::id() as i32), Some(me));
        assert!(!ProcStat {
            state: 'Z',
            start_time: 1
        }
        .is_alive());
    }
}
