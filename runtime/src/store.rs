//! The state directory: `<root>/<id>/` holding `state.json` (written atomically) and, while the
//! container is created but not started, `start.sock`.
//!
//! `mkdir <root>/<id>` is the create lock (EEXIST: the ID is taken, so of two concurrent creates of
//! one ID exactly one wins). Operations that change a container (create, start, kill, delete) hold
//! an exclusive flock(2) on the directory; readers (state, list) do not lock: state.json is only
//! ever replaced by rename(2), so they see the old or the new file, never a partial one.
use std::fs::{DirBuilder, File};
use std::io::{ErrorKind, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

use crate::container::Record;

const STATE_FILE: &str = "state.json";
const START_SOCKET: &str = "start.sock";
/// `sizeof(sockaddr_un.sun_path)`, the terminating NUL included (unix(7)).
const SUN_PATH_MAX: usize = 108;

pub struct Store {
    root: PathBuf,
}

/// One container's state directory.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    path: PathBuf,
}

/// Held while a command changes the container; released on drop.
pub type DirLock = Flock<File>;

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    /// runc's default: `/run/husk`, or `$XDG_RUNTIME_DIR/husk` when not running as root.
    pub fn default_root() -> PathBuf {
        if !nix::unistd::geteuid().is_root() {
            if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
                return Path::new(&dir).join("husk");
            }
        }
        PathBuf::from("/run/husk")
    }

    /// Claims `id`: mkdir of its state directory (the root, 0700 like runc's, is created on first
    /// use).
    pub fn create(&self, id: &str) -> Result<ContainerDir> {
        let path = self.root.join(id);
        match mkdir_container(&path) {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.root)
                    .with_context(|| format!("mkdir {}", self.root.display()))?;
                mkdir_container(&path)
            }
            result => result,
        }
        .map_err(|err| match err.kind() {
            ErrorKind::AlreadyExists => anyhow::anyhow!("container with given ID already exists"),
            _ => anyhow::Error::new(err).context(format!("mkdir {}", path.display())),
        })?;
        Ok(ContainerDir { path })
    }

    /// The state directory of `id`, whether or not it exists.
    pub fn dir(&self, id: &str) -> ContainerDir {
        ContainerDir {
            path: self.root.join(id),
        }
    }

    /// The state directory of an existing container, None when there is none.
    pub fn open(&self, id: &str) -> Option<ContainerDir> {
        let path = self.root.join(id);
        path.is_dir().then_some(ContainerDir { path })
    }

    /// The IDs of all containers, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err).with_context(|| format!("read {}", self.root.display())),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| husk_oci::validate_container_id(name).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

impl ContainerDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Exclusive flock on the directory, blocking until other changing commands are done.
    pub fn lock(&self) -> Result<DirLock> {
        let dir = match File::open(&self.path) {
            Ok(dir) => dir,
            Err(err) if err.kind() == ErrorKind::NotFound => bail!("container does not exist"),
            Err(err) => return Err(err).with_context(|| format!("open {}", self.path.display())),
        };
        Flock::lock(dir, FlockArg::LockExclusive)
            .map_err(|(_, errno)| anyhow::anyhow!("lock {}: {}", self.path.display(), errno.desc()))
    }

    pub fn start_socket(&self) -> PathBuf {
        self.path.join(START_SOCKET)
    }

    /// The address to bind or connect `start.sock` at. A unix socket path must fit `sun_path`
    /// (108 bytes with its NUL, unix(7)); a deep `--root` with a 64-hex id does not, so such a
    /// directory is reached through an O_PATH fd as `/proc/self/fd/N/start.sock` (conmon's way).
    /// Keep the returned fd open while the address is used.
    pub fn start_socket_address(&self) -> Result<(PathBuf, Option<OwnedFd>)> {
        let path = self.start_socket();
        if path.as_os_str().len() < SUN_PATH_MAX {
            return Ok((path, None));
        }
        let dir = nix::fcntl::open(
            &self.path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open {}", self.path.display()))?;
        let short = PathBuf::from(format!("/proc/self/fd/{}/{START_SOCKET}", dir.as_raw_fd()));
        Ok((short, Some(dir)))
    }

    /// Whether `start.sock` is still there, i.e. the container was created and not started.
    pub fn has_start_socket(&self) -> bool {
        self.start_socket().symlink_metadata().is_ok()
    }

    /// The record, or "container does not exist" when the directory has none (being created by a
    /// `create` that has not finished, or removed under us).
    pub fn read_record(&self) -> Result<Record> {
        let path = self.path.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == ErrorKind::NotFound => bail!("container does not exist"),
            Err(err) => return Err(err).with_context(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))
    }

    pub fn write_record(&self, record: &Record) -> Result<()> {
        let json = serde_json::to_vec(record)?;
        write_atomically(&self.path.join(STATE_FILE), &json)
    }

    /// Removes the directory and everything in it. Usually only state.json is left (start.sock
    /// goes at start): unlink and rmdir, and the general walk only when that leaves something.
    pub fn remove(&self) -> Result<()> {
        let _ = std::fs::remove_file(self.path.join(STATE_FILE));
        match std::fs::remove_dir(&self.path) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
            Err(_) => {}
        }
        match std::fs::remove_dir_all(&self.path) {
            Err(err) if err.kind() != ErrorKind::NotFound => {
                Err(err).with_context(|| format!("remove {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// The container's own directory: 0711 (runc), so that the state inside can be looked up by path.
fn mkdir_container(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().mode(0o711).create(path)
}

/// Writes a temporary file next to `path` and renames it over `path` (rename(2) is atomic within a
/// filesystem). No fsync: the state lives on tmpfs and a pid file must not outlive a reboot anyway.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = File::create(&tmp)
        .and_then(|mut file| file.write_all(contents))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::tests::sample_record;

    #[test]
    fn create_is_exclusive_and_makes_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("deep/root"));
        let dir = store.create("c1").unwrap();
        assert!(dir.path().is_dir());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&tmp.path().join("deep/root")), 0o700);
        assert_eq!(mode(dir.path()), 0o711);
        let err = store.create("c1").err().unwrap().to_string();
        assert_eq!(err, "container with given ID already exists");
        assert_eq!(store.ids().unwrap(), ["c1"]);
    }

    #[test]
    fn concurrent_creates_of_one_id_have_one_winner() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let winners: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Store::new(root.clone()).create("same").is_ok()))
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(winners, 1);
    }

    #[test]
    fn missing_root_lists_nothing_and_opens_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("absent"));
        assert!(store.ids().unwrap().is_empty());
        assert!(store.open("c1").is_none());
    }

    #[test]
    fn record_round_trips_and_a_dir_without_one_does_not_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().to_path_buf());
        let dir = store.create("c1").unwrap();
        assert_eq!(
            dir.read_record().err().unwrap().to_string(),
            "container does not exist"
        );
        let record = sample_record();
        dir.write_record(&record).unwrap();
        assert_eq!(dir.read_record().unwrap(), record);
        // Only state.json is left: the temporary file was renamed.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        dir.remove().unwrap();
        assert!(store.open("c1").is_none());
        dir.remove().unwrap();
    }

    #[test]
    fn remove_takes_whatever_else_is_in_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().to_path_buf());
        let dir = store.create("c1").unwrap();
        dir.write_record(&sample_record()).unwrap();
        std::fs::write(dir.path().join("start.sock"), b"").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), b"x").unwrap();
        dir.remove().unwrap();
        assert!(!dir.path().exists());
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("init.pid");
        write_atomically(&path, b"12345").unwrap();
        write_atomically(&path, b"7").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "7");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        assert!(write_atomically(&tmp.path().join("no/such/dir/f"), b"x").is_err());
    }

    #[test]
    fn a_missing_container_does_not_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Store::new(tmp.path().to_path_buf()).dir("c1");
        assert_eq!(
            dir.lock().err().unwrap().to_string(),
            "container does not exist"
        );
        assert_eq!(
            dir.read_record().err().unwrap().to_string(),
            "container does not exist"
        );
    }

    #[test]
    fn lock_is_exclusive_between_open_file_descriptions() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().to_path_buf());
        let dir = store.create("c1").unwrap();
        let held = dir.lock().unwrap();
        let other = File::open(dir.path()).unwrap();
        let (other, errno) = Flock::lock(other, FlockArg::LockExclusiveNonblock)
            .err()
            .unwrap();
        assert_eq!(errno, nix::errno::Errno::EWOULDBLOCK);
        drop(held);
        assert!(Flock::lock(other, FlockArg::LockExclusiveNonblock).is_ok());
    }
}
