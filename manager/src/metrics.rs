//! Prometheus metrics through the `metrics` crate: per-bot series (labels `bot_id`, `bot_name`, as the
//! orchestrator dashboard of seed 000 names them), the manager's own process (via `metrics-process`),
//! ports, and HTTP request durations by route. Rendered by `GET /metrics`.

use std::{sync::OnceLock, time::Duration};

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::{domain::InstanceRecord, monitor::resources::Sample};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Installs the global recorder once; later calls return the same handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                // Series of deleted bots disappear instead of lingering at their last value.
                .idle_timeout(MetricKindMask::ALL, Some(Duration::from_secs(120)))
                .set_buckets(&[
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // A second recorder (tests building two apps in one process) keeps the first.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_gauge!(
        "telegram_bot_health",
        "Bot health status (1 healthy, 0 not)"
    );
    describe_gauge!("orchestrator_uptime_seconds", "Orchestrator uptime");
    describe_counter!("bot_restarts_total", "Restarts of the bot's worker");
    describe_counter!(
        "botfleet_webhook_attempts_total",
        "Webhook delivery attempts by outcome (delivered, retry, dead)"
    );
    describe_gauge!(
        "botfleet_webhook_deliveries",
        "Webhook deliveries in the outbox by status (pending, delivered, dead)"
    );
    describe_counter!("bot_messages_sent_total", "Messages the bot sent");
    describe_counter!("bot_messages_received_total", "Messages the bot received");
    describe_counter!("bot_errors_total", "Errors recorded for the bot");
    describe_counter!(
        "bot_send_latency_milliseconds_sum",
        "Time spent in Telegram send calls since the worker started"
    );
    describe_counter!(
        "bot_send_latency_milliseconds_count",
        "Send calls since the worker started"
    );
    describe_gauge!(
        "bot_cpu_percent",
        "CPU of the bot's container, percent of one CPU"
    );
    describe_gauge!(
        "bot_memory_bytes",
        "Memory of the bot's container, page cache excluded"
    );
    describe_gauge!("instances", "Instances by status");
    describe_gauge!("ports_used", "Worker ports in use");
    describe_gauge!(
        "port_utilization_ratio",
        "Share of the worker port range in use"
    );
    describe_gauge!("host_cpu_percent", "Host CPU use");
    describe_gauge!("host_memory_used_bytes", "Host memory in use");
    describe_histogram!(
        "http_request_duration_seconds",
        "HTTP request durations by route"
    );
    let process = PROCESS.get_or_init(metrics_process::Collector::default);
    process.describe();
}

fn bot_labels(r: &InstanceRecord) -> [(&'static str, String); 2] {
    let name = r
        .bot_username
        .clone()
        .map(|u| format!("@{u}"))
        .unwrap_or_else(|| r.display_name.clone());
    [("bot_id", r.id.clone()), ("bot_name", name)]
}

/// Per-bot series from the fleet records.
pub fn record_fleet(records: &[std::sync::Arc<InstanceRecord>], port_range_len: u64) {
    let mut by_status = std::collections::HashMap::<&'static str, u64>::new();
    for r in records {
        *by_status.entry(r.status.as_str()).or_default() += 1;
        let labels = bot_labels(r);
        gauge!("telegram_bot_health", &labels).set(if r.health_ok { 1.0 } else { 0.0 });
        counter!("bot_restarts_total", &labels).absolute(r.restart_count.max(0) as u64);
        counter!("bot_messages_sent_total", &labels).absolute(r.sent_count.max(0) as u64);
        counter!("bot_messages_received_total", &labels).absolute(r.received_count.max(0) as u64);
        counter!("bot_errors_total", &labels).absolute(r.error_count.max(0) as u64);
    }
    for status in [
        "creating",
        "starting",
        "running",
        "degraded",
        "restarting",
        "stopping",
        "stopped",
        "failed",
        "deleting",
    ] {
        gauge!("instances", "status" => status).set(*by_status.get(status).unwrap_or(&0) as f64);
    }
    gauge!("ports_used").set(records.len() as f64);
    gauge!("port_utilization_ratio").set(records.len() as f64 / port_range_len.max(1) as f64);
}

/// Send latency as the worker reports it (totals since the worker started).
pub fn record_send_latency(r: &InstanceRecord, total_ms: u64, sends: u64) {
    let labels = bot_labels(r);
    // Counters hold integers: the sum is kept in milliseconds under a name that says so.
    counter!("bot_send_latency_milliseconds_sum", &labels).absolute(total_ms);
    counter!("bot_send_latency_milliseconds_count", &labels).absolute(sends);
}

/// Container and host figures from a resource sample.
pub fn record_sample(sample: &Sample, records: &[std::sync::Arc<InstanceRecord>]) {
    gauge!("host_cpu_percent").set(sample.host.cpu_percent);
    gauge!("host_memory_used_bytes").set(sample.host.memory_used_bytes as f64);
    for s in &sample.instances {
        if let Some(r) = records.iter().find(|r| r.id == s.instance_id) {
            let labels = bot_labels(r);
            gauge!("bot_cpu_percent", &labels).set(s.usage.cpu_percent);
            gauge!("bot_memory_bytes", &labels).set(s.usage.memory_bytes as f64);
        }
    }
}

pub fn record_http(method: &str, route: &str, status: u16, seconds: f64) {
    histogram!(
        "http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route.to_string(),
        "status" => status.to_string()
    )
    .record(seconds);
}

/// The text exposition, with process metrics and uptime refreshed first.
pub fn render(uptime: Duration) -> String {
    let handle = install();
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    gauge!("orchestrator_uptime_seconds").set(uptime.as_secs_f64());
    handle.render()
}
