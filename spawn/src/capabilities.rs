//! `process.capabilities`: all five sets, with the caps crate.
//!
//! The bounding set is dropped while the init is still root (PR_CAPBSET_DROP needs CAP_SETPCAP in
//! the effective set, which a switch to a non-zero uid clears); the other sets are applied after
//! the user switch (PR_SET_KEEPCAPS kept the permitted set for it).

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::SpawnError;

/// Drops every capability not in `capabilities.bounding` from the bounding set.
pub(crate) fn drop_bounding(spec_caps: &LinuxCapabilities) -> Result<(), SpawnError> {
    let keep = to_caps(spec_caps.bounding().as_ref());
    for cap in caps::all() {
        if keep.contains(&cap) {
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

/// Sets the effective, permitted, inheritable and ambient sets. Effective first (a subset of the
/// current permitted set), then permitted (may only shrink, must keep the effective set), then
/// inheritable, then ambient (each ambient capability must be permitted and inheritable,
/// capabilities(7)).
pub(crate) fn apply(spec_caps: &LinuxCapabilities) -> Result<(), SpawnError> {
    set(CapSet::Effective, spec_caps.effective().as_ref())?;
    set(CapSet::Permitted, spec_caps.permitted().as_ref())?;
    set(CapSet::Inheritable, spec_caps.inheritable().as_ref())?;
    let ambient = to_caps(spec_caps.ambient().as_ref());
    caps::clear(None, CapSet::Ambient)
        .map_err(|_| SpawnError::setup("clear the ambient set", Errno::last()))?;
    for cap in ambient {
        caps::raise(None, CapSet::Ambient, cap).map_err(|_| {
            SpawnError::setup(format!("raise {cap} in the ambient set"), Errno::last())
        })?;
    }
    Ok(())
}

fn set(set: CapSet, wanted: Option<&Capabilities>) -> Result<(), SpawnError> {
    caps::set(None, set, &to_caps(wanted))
        .map_err(|_| SpawnError::setup(format!("set the {set:?} capabilities"), Errno::last()))
}

/// oci-spec names to caps-crate values; a name the caps crate does not know is a warning, not a
/// failure (runc behaviour).
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
