//! Prometheus metrics, rendered by `GET /metrics`. The manager's own process (via `metrics-process`),
//! ports, instances by status and HTTP request durations go through the `metrics` crate. The per-bot
//! families (labels `bot_id`, `bot_name`, as the orchestrator dashboard of seed 000 names them) are
//! rendered from the fleet as it is at the scrape instead: a series keyed by a label set cannot be
//! removed from the recorder, so a renamed bot would otherwise keep a stale series under its old name
//! beside the new one, and a deleted bot would linger until an idle timeout.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge, histogram};
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
    describe_gauge!("orchestrator_uptime_seconds", "Orchestrator uptime");
    describe_counter!(
        "botfleet_webhook_attempts_total",
        "Webhook delivery attempts by outcome (delivered, retry, dead, refused: destination not allowed, dead at once)"
    );
    describe_counter!(
        "botfleet_schedule_runs_total",
        "Scheduled runs by outcome as recorded (pending: taken for sending; sent, failed, skipped_late, \
         skipped_paused, skipped)"
    );
    describe_gauge!(
        "botfleet_webhook_deliveries",
        "Webhook deliveries in the outbox by status (pending, delivered, dead)"
    );
    describe_counter!(
        "botfleet_db_write_transactions_total",
        "Write transactions on the instance tables by kind (instance_insert, instance_update, \
         instance_delete, counters_flush)"
    );
    describe_gauge!(
        "botfleet_health_round_seconds",
        "How long the last health round took (it asks only workers whose collector did not report lately)"
    );
    describe_gauge!(
        "botfleet_health_round_workers",
        "Workers the last health round looked at (running, starting, degraded or failed)"
    );
    describe_gauge!(
        "botfleet_health_round_probed",
        "Workers the last health round asked itself: the others' event collectors had just reported"
    );
    describe_gauge!(
        "botfleet_health_oldest_check_seconds",
        "Age of the oldest health check among running workers (a round's or a collector's report)"
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

/// What the per-bot families show of one bot.
#[derive(Debug, Clone, Default)]
struct BotFigures {
    name: String,
    healthy: bool,
    restarts: i64,
    sent: i64,
    received: i64,
    errors: i64,
    /// Send latency as the worker reports it: total ms and sends since the worker started.
    latency: Option<(u64, u64)>,
    /// CPU percent and memory bytes from the latest resource sample.
    usage: Option<(f64, u64)>,
}

/// What the per-bot families know, by instance id. `fleet` is replaced whole by every `record_fleet`, so
/// only bots that exist now, under the names they have now, are rendered; the worker and container
/// figures arrive on their own schedules and are kept beside it (and pruned with it).
#[derive(Default)]
struct Bots {
    fleet: BTreeMap<String, BotFigures>,
    latency: BTreeMap<String, (u64, u64)>,
    usage: BTreeMap<String, (f64, u64)>,
}

static BOTS: Mutex<Bots> = Mutex::new(Bots {
    fleet: BTreeMap::new(),
    latency: BTreeMap::new(),
    usage: BTreeMap::new(),
});

fn bots() -> std::sync::MutexGuard<'static, Bots> {
    BOTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn bot_name(r: &InstanceRecord) -> String {
    r.handle().unwrap_or_else(|| r.display_name.clone())
}

/// The fleet as it is now: per-bot figures and the instance, port gauges.
pub fn record_fleet(records: &[std::sync::Arc<InstanceRecord>], port_range_len: u64) {
    let mut by_status = std::collections::HashMap::<&'static str, u64>::new();
    {
        let mut bots = bots();
        let mut fresh = BTreeMap::new();
        for r in records {
            *by_status.entry(r.status.as_str()).or_default() += 1;
            fresh.insert(
                r.id.clone(),
                BotFigures {
                    name: bot_name(r),
                    healthy: r.health_ok,
                    restarts: r.restart_count,
                    sent: r.sent_count,
                    received: r.received_count,
                    errors: r.error_count,
                    latency: None,
                    usage: None,
                },
            );
        }
        bots.latency.retain(|id, _| fresh.contains_key(id));
        bots.usage.retain(|id, _| fresh.contains_key(id));
        bots.fleet = fresh;
    }
    for status in crate::domain::InstanceStatus::ALL {
        let status = status.as_str();
        gauge!("instances", "status" => status).set(*by_status.get(status).unwrap_or(&0) as f64);
    }
    gauge!("ports_used").set(records.len() as f64);
    gauge!("port_utilization_ratio").set(records.len() as f64 / port_range_len.max(1) as f64);
}

/// Send latency as the worker reports it (totals since the worker started).
pub fn record_send_latency(r: &InstanceRecord, total_ms: u64, sends: u64) {
    bots().latency.insert(r.id.clone(), (total_ms, sends));
}

/// Container and host figures from a resource sample.
pub fn record_sample(sample: &Sample, _records: &[std::sync::Arc<InstanceRecord>]) {
    gauge!("host_cpu_percent").set(sample.host.cpu_percent);
    gauge!("host_memory_used_bytes").set(sample.host.memory_used_bytes as f64);
    let mut bots = bots();
    for s in &sample.instances {
        bots.usage.insert(
            s.instance_id.to_string(),
            (s.usage.cpu_percent, s.usage.memory_bytes),
        );
    }
}

/// A label value in the exposition format: backslash, double quote and newline escaped.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The per-bot families in the text exposition format, one series per bot.
/// The per-bot families, for the bots `visible` accepts.
pub fn render_bots(visible: &dyn Fn(&str) -> bool) -> String {
    type Family = (
        &'static str,
        &'static str,
        &'static str,
        fn(&BotFigures) -> Option<f64>,
    );
    const FAMILIES: &[Family] = &[
        (
            "telegram_bot_health",
            "gauge",
            "Bot health status (1 healthy, 0 not)",
            |b| Some(if b.healthy { 1.0 } else { 0.0 }),
        ),
        (
            "bot_restarts_total",
            "counter",
            "Restarts of the bot's worker",
            |b| Some(b.restarts.max(0) as f64),
        ),
        (
            "bot_messages_sent_total",
            "counter",
            "Messages the bot sent",
            |b| Some(b.sent.max(0) as f64),
        ),
        (
            "bot_messages_received_total",
            "counter",
            "Messages the bot received",
            |b| Some(b.received.max(0) as f64),
        ),
        (
            "bot_errors_total",
            "counter",
            "Errors recorded for the bot",
            |b| Some(b.errors.max(0) as f64),
        ),
        (
            "bot_send_latency_milliseconds_sum",
            "counter",
            "Time spent in provider send calls since the worker started",
            |b| b.latency.map(|(ms, _)| ms as f64),
        ),
        (
            "bot_send_latency_milliseconds_count",
            "counter",
            "Send calls since the worker started",
            |b| b.latency.map(|(_, n)| n as f64),
        ),
        (
            "bot_cpu_percent",
            "gauge",
            "CPU of the bot's container, percent of one CPU",
            |b| b.usage.map(|(cpu, _)| cpu),
        ),
        (
            "bot_memory_bytes",
            "gauge",
            "Memory of the bot's container, page cache excluded",
            |b| b.usage.map(|(_, mem)| mem as f64),
        ),
    ];
    let bots = bots();
    let figures: Vec<(&String, BotFigures)> = bots
        .fleet
        .iter()
        .map(|(id, b)| {
            let mut b = b.clone();
            b.latency = bots.latency.get(id).copied();
            b.usage = bots.usage.get(id).copied();
            (id, b)
        })
        .collect();
    let mut out = String::new();
    for (name, kind, help, value) in FAMILIES {
        let series: Vec<(&String, &BotFigures, f64)> = figures
            .iter()
            .filter(|(id, _)| visible(id))
            .map(|(id, b)| (*id, b))
            .filter_map(|(id, b)| value(b).map(|v| (id, b, v)))
            .collect();
        if series.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (id, b, v) in series {
            let _ = writeln!(
                out,
                "{name}{{bot_id=\"{}\",bot_name=\"{}\"}} {v}",
                label_value(id),
                label_value(&b.name)
            );
        }
    }
    out
}

/// Counts a scheduled run recorded with `status`.
pub fn schedule_run(status: &'static str) {
    metrics::counter!("botfleet_schedule_runs_total", "status" => status).increment(1);
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
    let mut text = handle.render();
    text.push_str(&render_bots(&|_| true));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_bot_has_one_series_under_its_new_name_and_a_deleted_one_none() {
        let mut r = crate::monitor::health::tests::record(crate::domain::InstanceStatus::Running);
        r.id = "metrics-unit-bot".into();
        record_fleet(&[std::sync::Arc::new(r.clone())], 10);
        record_send_latency(&r, 40, 2);
        let before = render_bots(&|_| true);
        assert!(before.contains(r#"bot_id="metrics-unit-bot",bot_name="telegram_api""#));
        r.bot_username = Some("named_bot".into());
        record_fleet(&[std::sync::Arc::new(r.clone())], 10);
        let after = render_bots(&|_| true);
        let health: Vec<_> = after
            .lines()
            .filter(|l| l.starts_with("telegram_bot_health{") && l.contains("metrics-unit-bot"))
            .collect();
        assert_eq!(health.len(), 1, "{after}");
        assert!(health[0].contains(r#"bot_name="@named_bot""#), "{after}");
        assert!(after.contains("bot_send_latency_milliseconds_sum{bot_id=\"metrics-unit-bot\",bot_name=\"@named_bot\"} 40"), "{after}");
        record_fleet(&[], 10);
        assert!(!render_bots(&|_| true).contains("metrics-unit-bot"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
