//! One module per subcommand. Each `run` returns the exit code on success.
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod qos;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use anyhow::Result;

use crate::log::Logger;
use crate::store::{ContainerDir, Store};

/// What every command gets from the global flags.
pub struct Context {
    pub store: Store,
    pub log: Logger,
    pub systemd_cgroup: bool,
    /// `--qos-config`; None: the default policy file.
    pub qos_config: Option<std::path::PathBuf>,
}

impl Context {
    /// The QoS policy named by `--qos-config`, else the default file, else the built-in policy.
    pub fn qos_policy(&self) -> Result<husk_cgroup::qos::Policy> {
        Ok(husk_cgroup::qos::Policy::load(self.qos_config.as_deref())?)
    }
}

impl Context {
    /// The state directory of container `id`, unchecked: reading its record or locking it fails
    /// with runc's "container does not exist" when there is none.
    pub fn dir(&self, id: &str) -> Result<ContainerDir> {
        husk_oci::validate_container_id(id)?;
        Ok(self.store.dir(id))
    }
}
