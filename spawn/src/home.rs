//! `HOME` for a process whose `env` has none: the home directory of its uid in the container's
//! /etc/passwd, else `/` (runc's libcontainer init, crun's the same). Read after pivot_root, so the
//! file is the container's own; it is the container's to make odd, hence only a regular file is
//! read, and only its first [`MAX_PASSWD`] bytes.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

const PASSWD: &str = "/etc/passwd";
const MAX_PASSWD: u64 = 1 << 20;

/// `env`, plus `HOME=<home of uid>` when it sets no HOME.
pub(crate) fn with_home(env: &[String], uid: u32) -> Cow<'_, [String]> {
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return Cow::Borrowed(env);
    }
    let home = read_passwd()
        .and_then(|passwd| home_of(&passwd, uid))
        .unwrap_or_else(|| "/".to_owned());
    let mut env = env.to_vec();
    env.push(format!("HOME={home}"));
    Cow::Owned(env)
}

fn read_passwd() -> Option<String> {
    // O_NONBLOCK: a FIFO in its place must not hold up the start (it is then no regular file).
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(PASSWD)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    // Room for the whole file and the read that sees its end: two reads, not a series of probes.
    let mut text = String::with_capacity(meta.len().min(MAX_PASSWD) as usize + 1);
    file.take(MAX_PASSWD).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The home field (the sixth) of the first entry for `uid`, when it is not empty.
fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        // name:password:uid:gid:gecos:home:shell (passwd(5))
        let mut fields = line.split(':');
        let entry_uid = fields.nth(2)?;
        let home = fields.nth(2)?;
        (entry_uid.parse() == Ok(uid) && !home.is_empty()).then(|| home.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          # a comment\n\
                          nohome:x:7:7:::/bin/sh\n\
                          u:x:1000:1000:User:/home/u:/bin/sh\n\
                          dup:x:1000:1000::/elsewhere:/bin/sh\n";

    #[test]
    fn the_first_entry_of_the_uid_gives_the_home() {
        assert_eq!(home_of(PASSWD, 0).as_deref(), Some("/root"));
        assert_eq!(home_of(PASSWD, 1000).as_deref(), Some("/home/u"));
    }

    #[test]
    fn no_entry_or_an_empty_home_gives_none() {
        assert_eq!(home_of(PASSWD, 7), None);
        assert_eq!(home_of(PASSWD, 4242), None);
        assert_eq!(home_of("garbage\n::\n", 0), None);
    }

    #[test]
    fn a_home_in_env_is_kept() {
        let env = ["PATH=/bin".to_owned(), "HOME=/custom".to_owned()];
        assert!(matches!(with_home(&env, 0), Cow::Borrowed(_)));
    }
}
