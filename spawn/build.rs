//! Builds husk-dmz (dmz/dmz.c, see src/dmz.rs) for the target architecture: a static executable
//! without libc, embedded in husk with include_bytes!.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "dmz/dmz.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("husk-dmz");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args([
            "-Os",
            "-static",
            "-nostdlib",
            "-ffreestanding",
            "-fno-builtin",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-fno-ident",
            "-fno-pie",
            "-no-pie",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wl,--build-id=none",
            "-Wl,-z,noexecstack",
            "-Wl,-n",
            "-s",
            "-o",
        ])
        .arg(&out)
        .arg(source)
        .status()
        .unwrap_or_else(|e| panic!("husk-dmz: cannot run {cc}: {e} (install gcc)"));
    assert!(status.success(), "husk-dmz: {cc} failed on {source}");
}
