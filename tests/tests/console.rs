//! `create --console-socket` with `process.terminal: true`: the runtime connects to the socket and
//! sends the pty master with SCM_RIGHTS, one message, non-empty data (runtime-contract §1.5.6).

use std::os::unix::net::UnixListener;
use std::time::Duration;

use husk_tests::pty::read_until;
use husk_tests::scm::accept_message;
use husk_tests::{Bundle, Husk};
use serde_json::json;

#[test]
fn console_socket_receives_a_working_pty() {
    let husk = Husk::new();
    let mut bundle = Bundle::busybox(&[
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo hello-from-tty; sleep 1",
    ]);
    bundle.edit(|c| c["process"]["terminal"] = json!(true));
    let sockets = tempfile::tempdir().expect("tempdir");
    let socket_path = sockets.path().join("console.sock");
    let listener = UnixListener::bind(&socket_path).expect("bind console socket");
    let id = husk.new_id("console");

    let (created, (data, fds)) = std::thread::scope(|s| {
        let receiver = s.spawn(|| accept_message(&listener));
        let created = husk.create(
            &id,
            &bundle,
            &["--console-socket", socket_path.to_str().expect("utf-8")],
        );
        (created, receiver.join().expect("receiver thread"))
    });
    created.assert_ok();
    assert!(
        !data.is_empty(),
        "the console message carries no data (SOCK_STREAM needs some)"
    );
    assert_eq!(fds.len(), 1, "expected exactly one fd, got {}", fds.len());
    let master = &fds[0];
    assert!(
        nix::unistd::isatty(master).unwrap_or(false),
        "the received fd is not a terminal"
    );

    husk.start(&id).assert_ok();
    let mut seen = Vec::new();
    read_until(master, "hello-from-tty", &mut seen, Duration::from_secs(10));
    let output = String::from_utf8_lossy(&seen);
    assert!(output.contains("hello-from-tty"), "pty output: {output:?}");
    husk.wait_status(&id, "stopped");
    husk.cmd(&["delete", &id]).assert_ok();
    husk.assert_nothing_left(&id, &bundle);
}
