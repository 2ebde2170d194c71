use crate::OciError;

/// runc's rule (libcontainer/factory_linux.go validateID): `[A-Za-z0-9_+.-]+`, and not `.` or `..`.
pub fn validate_container_id(id: &str) -> Result<(), OciError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(OciError::InvalidId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_ids_and_rejects_the_rest() {
        for good in ["a", "c1", "A_b+c.d-e", "0123"] {
            assert!(validate_container_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "é", "x\n"] {
            assert!(validate_container_id(bad).is_err(), "{bad:?}");
        }
    }
}
