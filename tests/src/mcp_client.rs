//! A real MCP client for tests and benches: the official MCP Python SDK (`tests/mcp/client.py`, in the
//! venv `scripts/install-test-tools` makes), run on a plan of steps in one session.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The venv's Python (`BOTFLEET_TEST_TOOLS_VENV` names another venv).
pub fn python() -> PathBuf {
    let venv = match std::env::var_os("BOTFLEET_TEST_TOOLS_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools/venv"),
    };
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-tools",
        python.display()
    );
    python
}

/// Runs `steps` (see `tests/mcp/client.py`) in one session against `url` with `key` as the bearer;
/// the client's JSON answer: `{"initialize": …, "results": […]}`, or `{"error": …}`.
pub async fn run(url: &str, key: &str, steps: Value) -> Value {
    let plan = json!({"url": url, "key": key, "steps": steps}).to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp/client.py");
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(python())
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(plan.as_bytes())
            .expect("the plan is written");
        child.wait_with_output().expect("the client ends")
    })
    .await
    .expect("the client's thread");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
