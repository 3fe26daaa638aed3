//! One finished run of the `botfleet` CLI, as the CLI tests see it.

use std::sync::Mutex;

/// What a run of `botfleet` left: its exit code and output.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run of `botfleet <args>` that ended with `out`: echoed to the test's stderr, and its output
    /// kept in `transcript` (the tests search it for secrets at the end).
    pub fn finished(out: std::process::Output, args: &[&str], transcript: &Mutex<String>) -> Self {
        let run = Self {
            code: out.status.code().expect("botfleet exited, not killed"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!(
            "$ botfleet {}\n[exit {}]\n{}{}",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        );
        let mut t = transcript.lock().unwrap_or_else(|e| e.into_inner());
        t.push_str(&run.stdout);
        t.push_str(&run.stderr);
        run
    }
}
