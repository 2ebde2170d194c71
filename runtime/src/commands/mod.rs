//! One module per subcommand. Each `run` returns the exit code on success.
pub mod create;
pub mod delete;
pub mod features;
pub mod kill;
pub mod list;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;

use anyhow::Result;

use crate::log::Logger;
use crate::store::{ContainerDir, Store};

/// What every command gets from the global flags.
pub struct Context {
    pub store: Store,
    pub log: Logger,
    pub systemd_cgroup: bool,
}

impl Context {
    /// The state directory of container `id`, unchecked: reading its record or locking it fails
    /// with runc's "container does not exist" when there is none.
    pub fn dir(&self, id: &str) -> Result<ContainerDir> {
        husk_oci::validate_container_id(id)?;
        Ok(self.store.dir(id))
    }
}
