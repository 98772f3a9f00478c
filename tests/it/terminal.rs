//! Runs a command on a pseudo-terminal through util-linux `script`, as a user at a terminal
//! would: keys are typed once the shell's prompt shows, and the screen is returned.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The prompt of the SQL shell; typing starts once it shows.
const PROMPT: &str = "eventlake> ";

/// Maximum wait for the first prompt, which the demo shows only after its first commits.
const PROMPT_WAIT: Duration = Duration::from_secs(180);

/// Maximum wait for the command to exit after the last key.
const EXIT_WAIT: Duration = Duration::from_secs(120);

/// Runs `command` (a shell command line) on a terminal, types `keys` one chunk at a time with
/// the pause in milliseconds after each, and returns the exit code (`None` when it had to
/// be killed) and everything the terminal showed.
pub fn terminal_session(command: &str, keys: &[(&str, u64)]) -> (Option<i32>, String) {
    // `exec` makes the program the child of `script`: a `sh` left in between would die of
    // the Ctrl-C sent to the terminal, and `script` would report that status.
    let command = format!("exec {command}");
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs");
    let mut input = child.stdin.take().expect("stdin");
    let screen = Arc::new(Mutex::new(String::new()));
    let mut output = child.stdout.take().expect("stdout");
    let reader = {
        let screen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(read) = std::io::Read::read(&mut output, &mut chunk) {
                if read == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&chunk[..read]).into_owned();
                screen.lock().expect("screen").push_str(&text);
            }
        })
    };

    let started = Instant::now();
    while !screen.lock().expect("screen").contains(PROMPT)
        && started.elapsed() < PROMPT_WAIT
        && child.try_wait().expect("wait").is_none()
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    for (chunk, pause_ms) in keys {
        // A program that already exited has closed the terminal, and the screen shows why.
        if input.write_all(chunk.as_bytes()).is_err() || input.flush().is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(*pause_ms));
    }
    drop(input);

    // A program that does not exit is killed, so a failure cannot hang the test run.
    let deadline = Instant::now() + EXIT_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().expect("reader");
    let text = screen.lock().expect("screen").clone();
    (status, text)
}
