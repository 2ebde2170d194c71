//! A fake cgroup directory: plain files in a tempdir, created empty, read back after a write.

use std::path::Path;

pub(crate) struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A directory holding `files`, each empty.
    pub(crate) fn new(files: &[&str]) -> Fixture {
        let fx = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        for f in files {
            fx.set(f, "");
        }
        fx
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn set(&self, name: &str, content: &str) {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub(crate) fn content(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap()
    }
}
