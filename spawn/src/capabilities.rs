//! `process.capabilities`: all five sets, with the caps crate.
//!
//! The names are resolved by the parent before clone3, so its warnings reach the runtime's stderr
//! rather than the container's stdio and the child only applies ready sets. The bounding set is
//! dropped while the init is still root (PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set,
//! which a switch to a non-zero uid clears); the other sets are applied after the user switch
//! (PR_SET_KEEPCAPS kept the permitted set for it).

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::SpawnError;

/// The five sets as caps-crate values.
pub(crate) struct CapabilityPlan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl CapabilityPlan {
    /// An ambient capability that is not both permitted and inheritable cannot be raised (the
    /// kernel refuses, capabilities(7)) and is left out silently, as runc 1.1 does: `runc spec`
    /// writes exactly such a config, so a warning would greet every default container.
    pub(crate) fn from_spec(spec_caps: &LinuxCapabilities) -> Self {
        let mut plan = CapabilityPlan {
            bounding: to_caps(spec_caps.bounding().as_ref()),
            effective: to_caps(spec_caps.effective().as_ref()),
            permitted: to_caps(spec_caps.permitted().as_ref()),
            inheritable: to_caps(spec_caps.inheritable().as_ref()),
            ambient: to_caps(spec_caps.ambient().as_ref()),
        };
        let (permitted, inheritable) = (&plan.permitted, &plan.inheritable);
        plan.ambient
            .retain(|cap| permitted.contains(cap) && inheritable.contains(cap));
        plan
    }

    /// Drops every capability not in the bounding set from it.
    pub(crate) fn drop_bounding(&self) -> Result<(), SpawnError> {
        for cap in caps::all() {
            if self.bounding.contains(&cap) {
                continue;
            }
            if caps::drop(None, CapSet::Bounding, cap).is_err() {
                let errno = Errno::last();
                // EINVAL: the running kernel does not know this capability, nothing to drop.
                if errno != Errno::EINVAL {
                    return Err(SpawnError::setup(
                        format!("drop {cap} from the bounding set"),
                        errno,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sets the effective, permitted, inheritable and ambient sets. Effective first (a subset of
    /// the current permitted set), then permitted (may only shrink, must keep the effective set),
    /// then inheritable, then ambient (each must be permitted and inheritable, capabilities(7)).
    pub(crate) fn apply(&self) -> Result<(), SpawnError> {
        set(CapSet::Effective, &self.effective)?;
        set(CapSet::Permitted, &self.permitted)?;
        set(CapSet::Inheritable, &self.inheritable)?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|_| SpawnError::setup("clear the ambient set", Errno::last()))?;
        for &cap in &self.ambient {
            caps::raise(None, CapSet::Ambient, cap).map_err(|_| {
                SpawnError::setup(format!("raise {cap} in the ambient set"), Errno::last())
            })?;
        }
        Ok(())
    }
}

fn set(set: CapSet, caps: &CapsHashSet) -> Result<(), SpawnError> {
    caps::set(None, set, caps)
        .map_err(|_| SpawnError::setup(format!("set the {set:?} capabilities"), Errno::last()))
}

/// oci-spec names to caps-crate values.
fn to_caps(names: Option<&Capabilities>) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for cap in names.into_iter().flatten() {
        let name = format!("CAP_{cap}");
        match Capability::from_str(&name) {
            Ok(c) => {
                out.insert(c);
            }
            Err(_) => eprintln!("husk: warning: unknown capability {name}"),
        }
    }
    out
}
