//! Load with `wrk` (the benches): latency percentiles and throughput of one URL.

use std::process::Command;

/// (p50 ms, p99 ms, requests/s) from `wrk --latency`, with `key` as the bearer credential.
pub fn wrk(
    url: &str,
    key: &str,
    connections: u32,
    seconds: u32,
) -> anyhow::Result<(f64, f64, f64)> {
    wrk_with(
        url,
        &format!("Authorization: Bearer {key}"),
        connections,
        seconds,
    )
}

/// [`wrk`] sending `header` (`Name: value`) with every request.
pub fn wrk_with(
    url: &str,
    header: &str,
    connections: u32,
    seconds: u32,
) -> anyhow::Result<(f64, f64, f64)> {
    run(url, header, connections, seconds, None)
}

/// [`wrk`] for slow reads: a request may take up to a minute (wrk's default of 2 s would drop the slow
/// answers from the percentiles as timeouts), and a timeout or socket error fails.
pub fn wrk_patient(
    url: &str,
    key: &str,
    connections: u32,
    seconds: u32,
) -> anyhow::Result<(f64, f64, f64)> {
    run(
        url,
        &format!("Authorization: Bearer {key}"),
        connections,
        seconds,
        Some(60),
    )
}

fn run(
    url: &str,
    header: &str,
    connections: u32,
    seconds: u32,
    timeout_secs: Option<u32>,
) -> anyhow::Result<(f64, f64, f64)> {
    let mut command = Command::new("wrk");
    command.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(t) = timeout_secs {
        command.args(["--timeout", &format!("{t}s")]);
    }
    let out = command.args(["-H", header, url]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let ms = |v: &str| -> f64 {
        let v = v.trim();
        if let Some(x) = v.strip_suffix("us") {
            x.parse::<f64>().unwrap_or(0.0) / 1000.0
        } else if let Some(x) = v.strip_suffix("ms") {
            x.parse().unwrap_or(0.0)
        } else if let Some(x) = v.strip_suffix('m') {
            x.parse::<f64>().unwrap_or(0.0) * 60_000.0
        } else if let Some(x) = v.strip_suffix('s') {
            x.parse::<f64>().unwrap_or(0.0) * 1000.0
        } else {
            0.0
        }
    };
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("0")
            .to_string()
    };
    let non_2xx = text.lines().any(|l| l.contains("Non-2xx"));
    anyhow::ensure!(!non_2xx, "{url} answered errors under load:\n{text}");
    let socket_errors = timeout_secs.is_some() && text.contains("Socket errors");
    anyhow::ensure!(
        !socket_errors,
        "{url}: wrk saw socket errors or timeouts:\n{text}"
    );
    Ok((
        ms(&field("50%")),
        ms(&field("99%")),
        field("Requests/sec:").parse().unwrap_or(0.0),
    ))
}
