//! Builds husk-dmz (dmz/dmz.c, see src/dmz.rs) for the target architecture: a static executable
//! without libc, embedded in husk with include_bytes!.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "dmz/dmz.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("husk-dmz");
    // The trampoline runs on the target: its compiler is CC_<target> or TARGET_CC (the `cc`
    // crate's convention); the host's CC or cc only when the target's architecture is the host's
    // (the code uses no libc, so x86_64 gnu and musl share a compiler).
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let target = var("TARGET").expect("TARGET");
    let host = var("HOST").expect("HOST");
    let arch = |triple: &str| triple.split('-').next().unwrap_or_default().to_owned();
    for name in [
        format!("CC_{}", target.replace('-', "_")),
        "TARGET_CC".to_owned(),
    ] {
        println!("cargo:rerun-if-env-changed={name}");
    }
    let cc = var(&format!("CC_{}", target.replace('-', "_")))
        .or_else(|| var("TARGET_CC"))
        .or_else(|| {
            (arch(&target) == arch(&host)).then(|| var("CC").unwrap_or_else(|| "cc".into()))
        })
        .unwrap_or_else(|| {
            panic!(
                "husk-dmz: set CC_{} to a C compiler for {target}",
                target.replace('-', "_")
            )
        });
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
