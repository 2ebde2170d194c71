//! The release link reads hack/release/husk.order (.cargo/config.toml); cargo does not know that,
//! so a new order would not be linked in until the code changed.
fn main() {
    println!("cargo:rerun-if-changed=../hack/release/husk.order");
}
