//! OCI bundle loading and validation, the container state JSON and the runtime `features` document.
//!
//! oci-spec models config.json but validates nothing; [`Bundle::load`] parses config.json once and
//! checks what the runtime spec requires, naming the file and field in every error.

pub mod bundle;
pub mod error;
pub mod features;
pub mod id;
pub mod state;
pub mod time;

pub use bundle::Bundle;
pub use error::OciError;
pub use id::validate_container_id;
pub use state::{ContainerStatus, State};
pub use time::Timestamp;

/// The runtime-spec version husk implements (reported in `--version` and state JSON).
pub const OCI_VERSION: &str = "1.2.1";
