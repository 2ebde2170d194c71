//! `features`: the runtime-spec features document (compile-time constants from husk-oci).
use std::io::Write;

use anyhow::Result;

pub fn run() -> Result<i32> {
    let mut json = husk_oci::features::features_json();
    json.push('\n');
    std::io::stdout().write_all(json.as_bytes())?;
    Ok(0)
}
