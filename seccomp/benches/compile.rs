//! Compile time of docker's default profile (x86_64 + x86 + x32): husk against libseccomp
//! (context, rules and BPF generation as runc does them), and the program lengths. Times are
//! the fastest batch's mean per call.
//! Run: cargo bench -p husk-seccomp

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

/// Mean time per call of the fastest of `batches` batches of `iterations` calls: the machine is
/// shared, and the fastest batch is the one least disturbed by other work.
fn time<T>(batches: u32, iterations: u32, mut f: impl FnMut() -> T) -> Duration {
    for _ in 0..iterations.min(20) {
        std::hint::black_box(f());
    }
    (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                std::hint::black_box(f());
            }
            start.elapsed() / iterations
        })
        .min()
        .expect("at least one batch")
}

fn main() {
    let profile = common::docker_profile();
    let husk = time(30, 200, || {
        husk_seccomp::compile(&profile).expect("compile")
    });
    let libseccomp = time(15, 5, || common::libseccomp_program(&profile));
    let husk_len = husk_seccomp::compile(&profile).unwrap().len();
    let libseccomp_len = common::libseccomp_program(&profile).len();
    println!("docker default profile, architectures x86_64 + x86 + x32");
    println!("{:<12} {:>14} {:>14}", "", "compile", "instructions");
    println!(
        "{:<12} {:>11.1} µs {:>14}",
        "husk",
        husk.as_secs_f64() * 1e6,
        husk_len
    );
    println!(
        "{:<12} {:>11.1} µs {:>14}",
        "libseccomp",
        libseccomp.as_secs_f64() * 1e6,
        libseccomp_len
    );
    println!(
        "speed-up: {:.0}x",
        libseccomp.as_secs_f64() / husk.as_secs_f64()
    );
    // Instructions the kernel executes per syscall (x86_64, numbers 0..=470, zero arguments).
    let husk_prog = husk_seccomp::compile(&profile).unwrap();
    let libseccomp_prog = common::libseccomp_program(&profile);
    let steps = |prog: &[libc::sock_filter]| {
        let counts: Vec<usize> = (0..=470)
            .map(|nr| {
                let data = common::SeccompData {
                    nr,
                    arch: common::AUDIT_ARCH_X86_64,
                    ..Default::default()
                };
                common::count_steps(prog, &data)
            })
            .collect();
        (
            counts.iter().sum::<usize>() as f64 / counts.len() as f64,
            *counts.iter().max().unwrap(),
        )
    };
    let (husk_mean, husk_max) = steps(husk_prog.instructions());
    let (lib_mean, lib_max) = steps(&libseccomp_prog);
    println!("instructions run per x86_64 syscall (mean/max): husk {husk_mean:.1}/{husk_max}, libseccomp {lib_mean:.1}/{lib_max}");
}
