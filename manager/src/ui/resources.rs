//! `/ui/resources…`: the host and its bots over the kept history (charts drawn here as inline SVG, no
//! script), the port range, the engine's hosts, alerts (the active ones resolved from here, fetched
//! again every few seconds so one that fires shows up) and their thresholds (a create form with inline
//! errors). Operators and admins only, as the API's routes are: a user gets a page saying so.
//!
//! The history API answers every kept sample with every running bot in it; with a thousand bots an
//! hour of samples is far more than a page needs. So the host's lines come from the host's own history
//! route (thinned by the API), and the bots' lines from one history call when the window is small, else
//! from one call per chosen sample time (at most [`SPARSE_POINTS`]), picked from the host's samples.

use std::collections::HashMap;

use axum::{
    Form,
    extract::{Path, Query},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use futures::StreamExt;
use maud::{Markup, PreEscaped, html};
use mcp::{RestCall, segment};
use serde::{Deserialize, Serialize};
use shared::api::{
    alerts::{AlertList, AlertListQuery, AlertStatus, AlertView, ThresholdList, ThresholdScope},
    hosts::{HostList, HostMetricsHistory, HostMetricsQuery},
    instances::InstanceList,
    resources::{
        PortsResponse, ResourceHistoryQuery, ResourceHistoryResponse, ResourceSample,
        ResourcesOverview, parse_timestamp_ms,
    },
};

use super::{ApiFailure, Caller, Ui, UiState, form, layout, refusal};

/// At most this many points per line.
const MAX_POINTS: usize = 300;
/// Points per bot line when the window holds too much to read in one call.
const SPARSE_POINTS: usize = 60;
/// The largest history answer read in one call (the relay reads at most 32 MB).
const ONE_CALL_BYTES: u64 = 12 * 1024 * 1024;
/// Rough size of one sample in the history answer: the host, and each bot in it.
const SAMPLE_BYTES: u64 = 600;
const BOT_SAMPLE_BYTES: u64 = 260;
/// Bots drawn: those with the most memory in the latest sample.
const TOP_BOTS: usize = 8;
/// How often the page fetches its alerts again, in ms.
const ALERTS_POLL_MS: u32 = 3000;

/// A time window of the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    key: &'static str,
    label: &'static str,
    ms: i64,
}

const WINDOWS: [Window; 4] = [
    Window {
        key: "15m",
        label: "15 min",
        ms: 15 * 60_000,
    },
    Window {
        key: "1h",
        label: "1 hour",
        ms: 3_600_000,
    },
    Window {
        key: "6h",
        label: "6 hours",
        ms: 6 * 3_600_000,
    },
    Window {
        key: "24h",
        label: "24 hours",
        ms: 24 * 3_600_000,
    },
];

fn window(key: &str) -> Window {
    WINDOWS
        .iter()
        .find(|w| w.key == key)
        .copied()
        .unwrap_or(WINDOWS[1])
}

/// `?window=&resolved=&created=` of the page.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    window: String,
    /// An alert just resolved from this page.
    #[serde(default)]
    resolved: String,
    /// A threshold just created from this page.
    #[serde(default)]
    created: String,
}

/// What the page says at its top after a form.
enum Notice {
    Done(String),
    Failed(String),
}

fn notice_line(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Done(text)) => p role="status" id="notice" class="ok" { (text) },
            Some(Notice::Failed(text)) => p role="alert" id="notice" class="error" { (text) },
            None => {}
        }
    }
}

/// The threshold form as typed (shown again after a refusal).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ThresholdForm {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    instance_id: String,
    #[serde(default)]
    metric_type: String,
    #[serde(default)]
    comparison: String,
    #[serde(default)]
    threshold_value: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    window: String,
}

/// The form's controls, by the API's field names (each control's id is `th-<name>`).
const FORM_FIELDS: [&str; 6] = [
    "scope",
    "instance_id",
    "metric_type",
    "comparison",
    "threshold_value",
    "webhook_url",
];

/// The wire name of an enum value (`"online"`), as the API writes it.
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GB", n / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.0} MB", n / (1024.0 * 1024.0))
    }
}

/// `HH:MM:SS` of unix ms, UTC.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `2026-03-01 14:02:03` of an RFC 3339 time.
fn when(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").chars().take(19).collect()
}

fn comparison_sign(comparison: &str) -> &'static str {
    match comparison {
        "gt" => ">",
        "gte" => "≥",
        "lt" => "<",
        "lte" => "≤",
        _ => "?",
    }
}

/// What a metric measures, for a threshold of `scope`.
fn metric_label(scope: ThresholdScope, metric: &str) -> &'static str {
    match (scope, metric) {
        (ThresholdScope::Host, "cpu") => "CPU (% of all CPUs)",
        (ThresholdScope::Host, "memory") => "Memory (% of the host's)",
        (ThresholdScope::Host, "disk") => "Disk (% used)",
        (_, "cpu") => "CPU (% of one CPU)",
        (_, "memory") => "Memory (% of its limit)",
        (_, "restarts") => "Restarts (count)",
        (_, "health") => "Health (1 answering, 0 not)",
        _ => "?",
    }
}

// ---------------------------------------------------------------------------------------------------
// Series and their thinning

/// One moment of several lines: a value per line (`None`: the line has no value then).
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    t: i64,
    values: Vec<Option<f64>>,
}

/// At most `max` frames: the frames' time span cut into `max` equal buckets, each the mean of the frames
/// in it (per line, of the values it has).
fn thin(frames: Vec<Frame>, max: usize) -> Vec<Frame> {
    if frames.len() <= max || max == 0 {
        return frames;
    }
    let lines = frames.iter().map(|f| f.values.len()).max().unwrap_or(0);
    let (t0, t1) = (frames[0].t, frames[frames.len() - 1].t);
    let span = i128::from((t1 - t0).max(0)) + 1;
    struct Bucket {
        t: i128,
        n: i128,
        sums: Vec<f64>,
        counts: Vec<u32>,
    }
    let mut buckets: Vec<Option<Bucket>> = (0..max).map(|_| None).collect();
    for f in frames {
        let i = (i128::from(f.t - t0) * max as i128 / span) as usize;
        let b = buckets[i.min(max - 1)].get_or_insert_with(|| Bucket {
            t: 0,
            n: 0,
            sums: vec![0.0; lines],
            counts: vec![0; lines],
        });
        b.t += i128::from(f.t);
        b.n += 1;
        for (k, v) in f.values.iter().enumerate() {
            if let Some(v) = v {
                b.sums[k] += v;
                b.counts[k] += 1;
            }
        }
    }
    buckets
        .into_iter()
        .flatten()
        .map(|b| Frame {
            t: (b.t / b.n) as i64,
            values: b
                .sums
                .iter()
                .zip(&b.counts)
                .map(|(s, &c)| (c > 0).then(|| s / f64::from(c)))
                .collect(),
        })
        .collect()
}

/// At most `max` items picked evenly, the first and the last kept.
fn pick<T: Clone>(items: &[T], max: usize) -> Vec<T> {
    if items.len() <= max || max < 2 {
        return items
            .iter()
            .take(max.max(items.len().min(1)))
            .cloned()
            .collect();
    }
    let last = items.len() - 1;
    (0..max)
        .map(|i| items[i * last / (max - 1)].clone())
        .collect()
}

/// A bot drawn in the bots' charts.
#[derive(Debug, Clone)]
struct BotLine {
    id: String,
    name: String,
    cpu: f64,
    memory_bytes: u64,
    memory_limit_bytes: u64,
}

/// The history of the window, ready to draw.
#[derive(Debug, Default)]
struct History {
    /// `[cpu %, memory %]` of the host.
    host: Vec<Frame>,
    /// The bots drawn, most memory first.
    bots: Vec<BotLine>,
    /// `[cpu % of bot 0.., memory MB of bot 0..]`.
    bot_frames: Vec<Frame>,
    /// Bots in the latest sample.
    running: usize,
    /// Samples kept in the window.
    kept: u64,
    from: i64,
    to: i64,
}

impl History {
    /// The time the charts span: the window, or from the oldest kept sample when the manager keeps
    /// less than the window (`true` then).
    fn span(&self) -> ((i64, i64), bool) {
        let first = self
            .host
            .first()
            .map(|f| f.t)
            .into_iter()
            .chain(self.bot_frames.first().map(|f| f.t))
            .min();
        match first {
            Some(first) if first - self.from > (self.to - self.from) / 50 => {
                ((first, self.to), true)
            }
            _ => ((self.from, self.to), false),
        }
    }
}

/// The top bots of `sample` by memory.
fn top_bots(sample: &ResourceSample) -> Vec<BotLine> {
    let mut bots: Vec<BotLine> = sample
        .instances
        .iter()
        .map(|i| BotLine {
            id: i.instance_id.clone(),
            name: i.display_name.clone(),
            cpu: i.cpu_percent,
            memory_bytes: i.memory_bytes,
            memory_limit_bytes: i.memory_limit_bytes,
        })
        .collect();
    bots.sort_by(|a, b| {
        b.memory_bytes
            .cmp(&a.memory_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    bots.truncate(TOP_BOTS);
    bots
}

/// The bots' frame of one sample: CPU then memory (MB) of each of `bots`.
fn bot_frame(sample: &ResourceSample, bots: &[BotLine], index: &HashMap<&str, usize>) -> Frame {
    let mut values = vec![None; bots.len() * 2];
    for i in &sample.instances {
        if let Some(&k) = index.get(i.instance_id.as_str()) {
            values[k] = Some(i.cpu_percent);
            values[bots.len() + k] = Some(i.memory_bytes as f64 / (1024.0 * 1024.0));
        }
    }
    Frame {
        t: parse_timestamp_ms(&sample.timestamp).unwrap_or_default(),
        values,
    }
}

fn host_frame(sample: &ResourceSample) -> Frame {
    Frame {
        t: parse_timestamp_ms(&sample.timestamp).unwrap_or_default(),
        values: vec![
            Some(sample.host.cpu_percent),
            Some(sample.host.memory_percent),
        ],
    }
}

async fn history_between(
    ui: &Ui,
    caller: &Caller,
    from: i64,
    to: i64,
) -> Result<ResourceHistoryResponse, ApiFailure> {
    let query = ResourceHistoryQuery {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
    };
    ui.read(
        caller,
        RestCall::get(format!("/api/v1/resources/history{}", mcp::query(&query))),
    )
    .await
}

/// The window's history: the host's from its own (thinned) history when the manager's host is known;
/// the bots' from the resource history, in one call or sparsely (see the module's note).
async fn history(
    ui: &Ui,
    caller: &Caller,
    win: Window,
    running: u64,
    local_host: Option<&str>,
) -> Result<History, ApiFailure> {
    let to = crate::fleet::now_ms();
    let from = to - win.ms;
    let mut out = History {
        from,
        to,
        ..Default::default()
    };
    let host: Option<HostMetricsHistory> = match local_host {
        Some(id) => {
            let query = HostMetricsQuery {
                start: Some(from.to_string()),
                end: Some(to.to_string()),
            };
            let path = format!(
                "/api/v1/hosts/{}/metrics/history{}",
                segment(id),
                mcp::query(&query)
            );
            Some(ui.read(caller, RestCall::get(path)).await?)
        }
        None => None,
    };
    let host_times: Vec<i64> = host
        .iter()
        .flat_map(|h| &h.data)
        .filter_map(|m| parse_timestamp_ms(&m.timestamp))
        .collect();
    if let Some(h) = &host {
        out.kept = h.available;
        out.host = thin(
            h.data
                .iter()
                .filter_map(|m| {
                    Some(Frame {
                        t: parse_timestamp_ms(&m.timestamp)?,
                        values: vec![Some(m.cpu_percent), Some(m.memory_percent)],
                    })
                })
                .collect(),
            MAX_POINTS,
        );
    }
    let per_sample = SAMPLE_BYTES + BOT_SAMPLE_BYTES * running;
    let samples: Vec<ResourceSample> = if host.is_none() || out.kept * per_sample <= ONE_CALL_BYTES
    {
        history_between(ui, caller, from, to).await?.data
    } else {
        // One call per chosen sample time (the host's samples are the same ones, at the same ms), a
        // few at a time: each answers that one sample.
        let times = pick(&host_times, SPARSE_POINTS);
        let answers: Vec<Result<ResourceHistoryResponse, ApiFailure>> =
            futures::stream::iter(times)
                .map(|t| history_between(ui, caller, t, t))
                .buffered(4)
                .collect()
                .await;
        let mut samples = Vec::with_capacity(answers.len());
        for answer in answers {
            samples.extend(answer?.data);
        }
        samples
    };
    if host.is_none() {
        out.kept = samples.len() as u64;
        out.host = thin(samples.iter().map(host_frame).collect(), MAX_POINTS);
    }
    if let Some(latest) = samples.last() {
        out.running = latest.instances.len();
        out.bots = top_bots(latest);
        let index: HashMap<&str, usize> = out
            .bots
            .iter()
            .enumerate()
            .map(|(k, b)| (b.id.as_str(), k))
            .collect();
        let frames = samples
            .iter()
            .map(|s| bot_frame(s, &out.bots, &index))
            .collect();
        out.bot_frames = thin(frames, MAX_POINTS);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------
// Charts

/// Colour and dash of line `k` (blue, vermilion, green, purple, orange, sky, black, brown — told apart
/// by their dashes too).
const PALETTE: [(&str, &str); 8] = [
    ("#0072b2", ""),
    ("#d55e00", "7 3"),
    ("#009e73", "2 3"),
    ("#cc79a7", "10 3 2 3"),
    ("#b07d00", ""),
    ("#2b8cc4", "7 3"),
    ("#1c2430", "2 3"),
    ("#8c6d31", "10 3 2 3"),
];

/// One line of a chart.
struct Line<'a> {
    label: &'a str,
    style: (&'static str, &'static str),
    /// `(time, value)`; `None` breaks the line.
    points: Vec<(i64, Option<f64>)>,
}

impl Line<'_> {
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.points.iter().filter_map(|(_, v)| *v)
    }
}

const VIEW_W: f64 = 560.0;
const VIEW_H: f64 = 250.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 48.0;

/// A round step for about four intervals up to `max`, and the top of the axis.
fn y_axis(max: f64) -> (f64, f64) {
    let raw = (max * 1.1).max(1e-9);
    let magnitude = 10f64.powf((raw / 4.0).log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| s * 4.0 >= raw)
        .unwrap_or(10.0 * magnitude);
    let top = (raw / step).ceil() * step;
    (step, (top * 1e9).round() / 1e9)
}

/// Times to mark on an axis spanning `span` ms: multiples of a round step, at most six.
fn x_ticks(t0: i64, t1: i64) -> (Vec<i64>, bool) {
    const STEPS_S: [i64; 17] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    ];
    let span = (t1 - t0).max(1);
    let step = STEPS_S
        .iter()
        .map(|s| s * 1000)
        .find(|s| span / s <= 5)
        .unwrap_or(86_400_000);
    let first = (t0 + step - 1).div_euclid(step) * step;
    let ticks = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= t1)
        .collect();
    (ticks, step < 60_000)
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A tick's label: as many decimals as the step needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = (0..6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    format!("{v:.decimals$}")
}

/// An inline SVG line chart: `role="img"` named by its title, described (latest, lowest and highest of
/// each line) by its `desc`, with axis titles carrying the units.
#[allow(clippy::too_many_arguments)]
fn chart(
    id: &str,
    title: &str,
    y_title: &str,
    unit: &str,
    fixed_max: Option<f64>,
    (t0, t1): (i64, i64),
    lines: &[Line],
) -> Markup {
    let plot_w = VIEW_W - LEFT - RIGHT;
    let plot_h = VIEW_H - TOP - BOTTOM;
    let max = lines.iter().flat_map(|l| l.values()).fold(0.0f64, f64::max);
    let (step, top) = match fixed_max {
        Some(m) => (m / 4.0, m.max(max)),
        None => y_axis(max),
    };
    let x = |t: i64| {
        if t1 > t0 {
            LEFT + (t - t0) as f64 / (t1 - t0) as f64 * plot_w
        } else {
            LEFT + plot_w
        }
    };
    let y = |v: f64| TOP + plot_h - (v / top).clamp(0.0, 1.0) * plot_h;
    let describe = |l: &Line| {
        let values: Vec<f64> = l.values().collect();
        match values.last() {
            None => format!("{}: no samples", l.label),
            Some(latest) => format!(
                "{}: latest {}{unit}, lowest {}{unit}, highest {}{unit}",
                l.label,
                number(*latest),
                number(values.iter().copied().fold(f64::INFINITY, f64::min)),
                number(values.iter().copied().fold(0.0, f64::max)),
            ),
        }
    };
    let desc = format!(
        "From {} to {} UTC. {}.",
        clock(t0),
        clock(t1),
        lines.iter().map(describe).collect::<Vec<_>>().join("; ")
    );
    let (ticks, seconds) = x_ticks(t0, t1);
    let y_ticks: Vec<f64> = (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|v| *v <= top + step / 1000.0)
        .collect();
    let empty = lines.iter().all(|l| l.values().next().is_none());
    html! {
        svg class="chart" id=(id) role="img" viewBox=(format!("0 0 {VIEW_W} {VIEW_H}"))
            aria-labelledby=(format!("{id}-title {id}-desc")) {
            title id=(format!("{id}-title")) { (title) }
            desc id=(format!("{id}-desc")) { (desc) }
            g class="grid" {
                @for v in &y_ticks {
                    line x1=(LEFT) x2=(LEFT + plot_w) y1=(format!("{:.1}", y(*v))) y2=(format!("{:.1}", y(*v))) {}
                    text class="tick" x=(LEFT - 6.0) y=(format!("{:.1}", y(*v) + 4.0)) text-anchor="end" { (tick_label(*v, step)) }
                }
                @for t in &ticks {
                    line x1=(format!("{:.1}", x(*t))) x2=(format!("{:.1}", x(*t))) y1=(TOP) y2=(TOP + plot_h) {}
                    text class="tick" x=(format!("{:.1}", x(*t))) y=(TOP + plot_h + 17.0)
                        // A label at an end of the axis stays inside the chart.
                        text-anchor=(if x(*t) > VIEW_W - RIGHT - 36.0 { "end" } else if x(*t) < LEFT + 24.0 { "start" } else { "middle" }) {
                        @if seconds { (clock(*t)) } @else { (clock(*t).get(..5).unwrap_or_default()) }
                    }
                }
            }
            line class="axis" x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(TOP + plot_h) {}
            line class="axis" x1=(LEFT) x2=(LEFT + plot_w) y1=(TOP + plot_h) y2=(TOP + plot_h) {}
            text class="axis-title" x=(LEFT + plot_w / 2.0) y=(VIEW_H - 6.0) text-anchor="middle" { "Time (UTC)" }
            text class="axis-title" text-anchor="middle"
                transform=(format!("translate(16 {}) rotate(-90)", TOP + plot_h / 2.0)) { (y_title) }
            @if empty {
                text class="empty" x=(LEFT + plot_w / 2.0) y=(TOP + plot_h / 2.0) text-anchor="middle" { "No samples in this window yet" }
            }
            @for l in lines {
                @let drawn = l.values().count();
                @let d = path(&l.points, &x, &y);
                path class="series" d=(d) stroke=(l.style.0) stroke-dasharray=[(!l.style.1.is_empty()).then_some(l.style.1)]
                    data-points=(drawn) data-label=(l.label) {}
                // A lone sample is a dot, not an invisible line.
                @if drawn == 1 {
                    @if let Some((t, Some(v))) = l.points.iter().find(|(_, v)| v.is_some()) {
                        circle cx=(format!("{:.1}", x(*t))) cy=(format!("{:.1}", y(*v))) r="3" fill=(l.style.0) {}
                    }
                }
            }
        }
    }
}

/// The `d` of a line through `points`, broken where a value is missing.
fn path(points: &[(i64, Option<f64>)], x: &impl Fn(i64) -> f64, y: &impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (t, v) in points {
        match v {
            Some(v) => {
                d.push_str(&format!(
                    "{}{:.1},{:.1}",
                    if pen_down { " L" } else { " M" },
                    x(*t),
                    y(*v)
                ));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_start().to_string()
}

/// A small sample of line `k`'s colour and dash, for a legend.
fn swatch((color, dash): (&str, &str)) -> Markup {
    html! {
        svg class="swatch" viewBox="0 0 28 10" aria-hidden="true" {
            line x1="1" x2="27" y1="5" y2="5" stroke=(color) stroke-width="3"
                stroke-dasharray=[(!dash.is_empty()).then_some(dash)] {}
        }
    }
}

fn column(frames: &[Frame], k: usize) -> Vec<(i64, Option<f64>)> {
    frames
        .iter()
        .map(|f| (f.t, f.values.get(k).copied().flatten()))
        .collect()
}

fn charts_section(win: Window, history: &Result<History, String>) -> Markup {
    html! {
        section aria-labelledby="charts-title" id="charts" {
            h2 id="charts-title" { "Over time" }
            nav class="windows" aria-label="Time window" {
                span class="label" { "Show the last:" }
                @for w in WINDOWS {
                    @if w == win {
                        a href=(format!("/ui/resources?window={}", w.key)) aria-current="true" { (w.label) }
                    } @else {
                        a href=(format!("/ui/resources?window={}", w.key)) { (w.label) }
                    }
                }
            }
            @match history {
                Err(error) => p role="alert" class="error" id="charts-error" { "The history could not be read: " (error) },
                Ok(h) => {
                    @let (span, clipped) = h.span();
                    @if clipped {
                        p class="hint" id="charts-note" {
                            "The manager keeps only its recent samples (" (h.kept) " in this window): the charts start at "
                            (clock(span.0)) " UTC, the oldest one."
                        }
                    }
                    div class="charts" {
                        figure {
                            (chart("chart-host-cpu", "Host CPU (% of all CPUs)", "CPU (%)", " %", Some(100.0), span,
                                &[Line { label: "Host CPU", style: PALETTE[0], points: column(&h.host, 0) }]))
                            figcaption { "Host CPU, % of all its CPUs" }
                        }
                        figure {
                            (chart("chart-host-memory", "Host memory (% used)", "Memory (%)", " %", Some(100.0), span,
                                &[Line { label: "Host memory", style: PALETTE[1], points: column(&h.host, 1) }]))
                            figcaption { "Host memory, % in use" }
                        }
                        @let n = h.bots.len();
                        @let cpu: Vec<Line> = h.bots.iter().enumerate().map(|(k, b)| Line {
                            label: &b.name, style: PALETTE[k % PALETTE.len()], points: column(&h.bot_frames, k) }).collect();
                        @let memory: Vec<Line> = h.bots.iter().enumerate().map(|(k, b)| Line {
                            label: &b.name, style: PALETTE[k % PALETTE.len()], points: column(&h.bot_frames, n + k) }).collect();
                        figure {
                            (chart("chart-bots-cpu", &format!("CPU of the {n} bots using the most memory (% of one CPU)"),
                                "CPU (% of one CPU)", " %", None, span, &cpu))
                            figcaption { "Bots' CPU, % of one CPU (200 % is two CPUs busy)" }
                        }
                        figure {
                            (chart("chart-bots-memory", &format!("Memory of the {n} bots using the most memory (MB)"),
                                "Memory (MB)", " MB", None, span, &memory))
                            figcaption { "Bots' memory, MB" }
                        }
                    }
                    h3 { "Bots in the charts" }
                    @if h.bots.is_empty() {
                        p id="bots-legend-empty" { "No bot is running: there is nothing to draw." }
                    } @else {
                        div class="table-wrap" {
                            table id="bots-legend" {
                                caption { "The " (n) " of " (h.running) " running bots using the most memory now, as drawn" }
                                thead { tr {
                                    th scope="col" { "Bot" }
                                    th scope="col" { "CPU now" }
                                    th scope="col" { "Memory now" }
                                    th scope="col" { "Memory limit" }
                                } }
                                tbody {
                                    @for (k, b) in h.bots.iter().enumerate() {
                                        tr {
                                            td { (swatch(PALETTE[k % PALETTE.len()])) " "
                                                a href=(format!("/ui/bots/{}", segment(&b.id))) { (b.name) } }
                                            td { (format!("{:.1} %", b.cpu)) }
                                            td { (bytes(b.memory_bytes)) }
                                            td { (bytes(b.memory_limit_bytes)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Alerts

/// The alerts section, as the page shows it and as its polling fetches it again.
fn alerts_section(
    win: Window,
    active: &AlertList,
    resolved: &AlertList,
    thresholds: &ThresholdList,
) -> Markup {
    let limit = |a: &AlertView| {
        thresholds
            .thresholds
            .iter()
            .find(|t| t.id == a.threshold_id)
            .map(|t| {
                format!(
                    "{} {}",
                    comparison_sign(t.comparison.as_str()),
                    number(t.threshold_value)
                )
            })
            .unwrap_or_else(|| number(a.threshold_value))
    };
    let target = |a: &AlertView| {
        html! {
            @if a.target == "host" { "host" }
            @else { a href=(format!("/ui/bots/{}", segment(&a.target))) title=(a.target) {
                code { (a.target.chars().take(8).collect::<String>()) } } }
        }
    };
    html! {
        section id="alerts" aria-labelledby="alerts-title" data-active=(active.alerts.len()) {
            h2 id="alerts-title" { "Alerts" }
            h3 { "Active (" (active.alerts.len()) ")" }
            @if active.alerts.is_empty() {
                p id="alerts-none" class="ok" { "No active alerts." }
            } @else {
                div class="table-wrap" {
                    table id="alerts-active" {
                        caption class="visually-hidden" { "Active alerts, newest first" }
                        thead { tr {
                            th scope="col" { "Fired (UTC)" } th scope="col" { "Target" } th scope="col" { "Metric" }
                            th scope="col" { "Value" } th scope="col" { "Threshold" } th scope="col" { "Alert" }
                            th scope="col" { span class="visually-hidden" { "Action" } }
                        } }
                        tbody {
                            @for a in &active.alerts {
                                tr data-id=(a.id) {
                                    td { time datetime=(a.fired_at) { (when(&a.fired_at)) } }
                                    td { (target(a)) }
                                    td { (a.metric_type.as_str()) }
                                    td { (number(a.value)) }
                                    td { (limit(a)) }
                                    td class="wrap" { (a.message) }
                                    td {
                                        form method="post" action=(format!("/ui/resources/alerts/{}/resolve", segment(&a.id))) {
                                            input type="hidden" name="window" value=(win.key);
                                            button type="submit" class="secondary" id=(format!("resolve-{}", a.id))
                                                aria-label=(format!("Resolve: {}", a.message)) { "Resolve" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                p class="hint" { "An alert also resolves by itself when its value recovers. One resolved here while its threshold still holds fires again at the next sample." }
            }
            h3 { "Recently resolved" }
            @if resolved.alerts.is_empty() {
                p id="resolved-none" { "None yet." }
            } @else {
                div class="table-wrap" {
                    table id="alerts-resolved" {
                        caption class="visually-hidden" { "Recently resolved alerts, newest first" }
                        thead { tr {
                            th scope="col" { "Fired (UTC)" } th scope="col" { "Resolved (UTC)" } th scope="col" { "Target" }
                            th scope="col" { "Metric" } th scope="col" { "Value" } th scope="col" { "Threshold" }
                        } }
                        tbody {
                            @for a in &resolved.alerts {
                                tr data-id=(a.id) {
                                    td { time datetime=(a.fired_at) { (when(&a.fired_at)) } }
                                    td { @if let Some(r) = &a.resolved_at { time datetime=(r) { (when(r)) } } }
                                    td { (target(a)) }
                                    td { (a.metric_type.as_str()) }
                                    td { (number(a.value)) }
                                    td { (limit(a)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Active and recently resolved alerts, and the thresholds (for their comparisons).
async fn alerts(
    ui: &Ui,
    caller: &Caller,
) -> Result<(AlertList, AlertList, ThresholdList), ApiFailure> {
    let list = |status: AlertStatus, limit: u32| {
        let query = AlertListQuery {
            status: Some(status),
            limit: Some(limit),
        };
        ui.read::<AlertList>(
            caller,
            RestCall::get(format!("/api/v1/alerts{}", mcp::query(&query))),
        )
    };
    futures::try_join!(
        list(AlertStatus::Active, 100),
        list(AlertStatus::Resolved, 10),
        ui.read::<ThresholdList>(caller, RestCall::get("/api/v1/alerts/thresholds")),
    )
}

// ---------------------------------------------------------------------------------------------------
// Thresholds

fn thresholds_section(
    win: Window,
    thresholds: &ThresholdList,
    bots: &InstanceList,
    entered: &ThresholdForm,
    error: Option<&(Option<String>, String)>,
    notice: Option<&Notice>,
) -> Markup {
    let bot_name = |id: &str| {
        bots.instances
            .iter()
            .find(|b| b.id == id)
            .map(|b| b.display_name.clone())
    };
    // The control a refusal names; one the form has no control for is said above the form only.
    let error_at = |field: &str| match error {
        Some((Some(f), message)) if f == field => Some(message.as_str()),
        _ => None,
    };
    let at_a_control = error
        .and_then(|(f, _)| f.as_deref())
        .is_some_and(|f| FORM_FIELDS.contains(&f));
    let scope = if entered.scope == "instance" {
        ThresholdScope::Instance
    } else {
        ThresholdScope::Host
    };
    let comparison = if entered.comparison.is_empty() {
        "gt"
    } else {
        entered.comparison.as_str()
    };
    // A choice among `options`, labelled, with its hint and error as `form::field` gives an input.
    let choice = |name: &str, label: &str, hint: &str, options: Markup| {
        let id = format!("th-{name}");
        let error = error_at(name);
        let described = [
            (!hint.is_empty()).then(|| format!("{id}-hint")),
            error.map(|_| format!("{id}-error")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        html! {
            div class="field" {
                label for=(id) { (label) }
                select id=(id) name=(name) aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[(!described.is_empty()).then_some(&described)] { (options) }
                @if !hint.is_empty() { div class="hint" id=(format!("{id}-hint")) { (hint) } }
                @if let Some(e) = error { div class="error" role="alert" id=(format!("{id}-error")) { (e) } }
            }
        }
    };
    html! {
        section id="thresholds" aria-labelledby="thresholds-title" {
            h2 id="thresholds-title" { "Thresholds" }
            (notice_line(notice))
            @if thresholds.thresholds.is_empty() {
                p id="thresholds-none" { "No thresholds: nothing raises alerts." }
            } @else {
                div class="table-wrap" {
                    table id="thresholds-table" {
                        caption class="visually-hidden" { "Thresholds, oldest first" }
                        thead { tr {
                            th scope="col" { "Watches" } th scope="col" { "Metric" } th scope="col" { "Fires when" }
                            th scope="col" { "Enabled" } th scope="col" { "Webhook" }
                        } }
                        tbody {
                            @for t in &thresholds.thresholds {
                                tr data-id=(t.id) {
                                    td {
                                        @match (&t.scope, &t.instance_id) {
                                            (ThresholdScope::Host, _) => "the host",
                                            (_, None) => "every bot",
                                            (_, Some(id)) => a href=(format!("/ui/bots/{}", segment(id))) {
                                                (bot_name(id).unwrap_or_else(|| id.clone())) },
                                        }
                                    }
                                    td { (metric_label(t.scope, t.metric_type.as_str())) }
                                    td { "value " (comparison_sign(t.comparison.as_str())) " " (number(t.threshold_value)) }
                                    td { @if t.enabled { "yes" } @else { "no" } }
                                    td class="wrap" { (t.webhook_url.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    }
                }
            }
            h3 id="new-threshold" { "New threshold" }
            @if let Some((_, message)) = error {
                p role="alert" class="error" id="threshold-error" {
                    "The threshold was not created: "
                    @if at_a_control { "see the field marked below." } @else { (message) }
                }
            }
            form method="post" action="/ui/resources/thresholds" id="threshold-form" aria-labelledby="new-threshold" novalidate {
                input type="hidden" name="window" value=(win.key);
                div class="form-grid" {
                    (choice("scope", "Watches", "", html! {
                        option value="host" selected[scope == ThresholdScope::Host] { "the host" }
                        option value="instance" selected[scope == ThresholdScope::Instance] { "bots" }
                    }))
                    (choice("instance_id", "Bot", "When it watches bots: one, or every bot.", html! {
                        option value="" { "every bot" }
                        @for b in &bots.instances {
                            option value=(b.id) selected[entered.instance_id == b.id] {
                                (b.display_name) " (" (b.id.chars().take(8).collect::<String>()) ")"
                            }
                        }
                    }))
                    (choice("metric_type", "Metric", "", html! {
                        @for s in [ThresholdScope::Host, ThresholdScope::Instance] {
                            optgroup label=(if s == ThresholdScope::Host { "The host" } else { "Bots" }) data-scope=(s.as_str()) {
                                @for m in s.metrics() {
                                    option value=(m.as_str())
                                        selected[s == scope && entered.metric_type == m.as_str()] { (metric_label(s, m.as_str())) }
                                }
                            }
                        }
                    }))
                    (choice("comparison", "Fires when the value is", "", html! {
                        @for (value, label) in [("gt", "greater than (>)"), ("gte", "at least (≥)"), ("lt", "less than (<)"), ("lte", "at most (≤)")] {
                            option value=(value) selected[comparison == value] { (label) }
                        }
                    }))
                    (form::field("th", "threshold_value", "Value", form::Kind::Text, &entered.threshold_value,
                        "A number in the metric's unit, e.g. 90 for 90 %.", error_at("threshold_value")))
                    (form::field("th", "webhook_url", "Webhook URL (optional)", form::Kind::Url, &entered.webhook_url,
                        "alert.fired and alert.resolved are posted there.", error_at("webhook_url")))
                }
                div class="actions" { button type="submit" { "Create threshold" } }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The page

/// The page for a caller the API refuses host resources (a user): what they are and who sees them.
fn operators_only(status: StatusCode, error: &str) -> Response {
    let body = html! {
        h1 { "Resources" }
        p id="operators-only" {
            "Host resources, ports, hosts and alerts are for operators and admins. "
            "Ask an admin if you need to see them."
        }
        p role="alert" class="error" { "The API said: " (error) }
        p { a href="/ui/bots" { "Your bots" } }
    };
    (
        status,
        layout::page("Resources", Some(layout::Section::Resources), body),
    )
        .into_response()
}

/// The overview, or `Err` with the response to give instead (a user's page; no sample yet is `None`).
async fn overview(ui: &Ui, caller: &Caller) -> Result<Option<ResourcesOverview>, Response> {
    let (status, body) = ui
        .call(Some(caller), RestCall::get("/api/v1/resources"))
        .await
        .map_err(IntoResponse::into_response)?;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(match refusal(status, &body) {
            ApiFailure::Refused(StatusCode::FORBIDDEN, e) => {
                operators_only(StatusCode::FORBIDDEN, &e.error)
            }
            other => other.into_response(),
        });
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| super::internal(e.to_string()).into_response())
}

fn summary(o: Option<&ResourcesOverview>) -> Markup {
    html! {
        @if let Some(o) = o {
            p class="hint" id="sampled" {
                "The host now: sampled " (when(&o.sampled_at)) " UTC · up " (o.server.uptime)
                " · load " (format!("{:.2} / {:.2} / {:.2}", o.server.host.load_average[0], o.server.host.load_average[1], o.server.host.load_average[2]))
                " (1, 5, 15 min)"
            }
        }
        section class="cards" aria-label="The host now" id="host-now" {
            @match o {
                None => p role="status" { "No resource sample is taken yet; reload in a few seconds." },
                Some(o) => {
                    @let h = &o.server.host;
                    div class="card" id="card-cpu" { div class="label" { "Host CPU" }
                        div class="value" { (format!("{:.1} %", h.cpu_percent)) }
                        div class="label" { (h.cpu_count) " CPUs" } }
                    div class="card" id="card-host-memory" { div class="label" { "Host memory" }
                        div class="value" { (format!("{:.1} %", h.memory_percent)) }
                        div class="label" { (bytes(h.memory_used_bytes)) " of " (bytes(h.memory_total_bytes)) } }
                    div class="card" id="card-disk" { div class="label" { "Disk" }
                        div class="value" { (format!("{:.1} %", h.disk_percent)) }
                        div class="label" { (bytes(h.disk_used_bytes)) " of " (bytes(h.disk_total_bytes)) } }
                    div class="card" id="card-containers" { div class="label" { "Containers" }
                        @match (o.docker.available, o.docker.running_containers, o.docker.total_containers) {
                            (true, Some(running), Some(total)) => {
                                div class="value" { (running) " / " (total) }
                                div class="label" { "running / all on the engine" }
                            }
                            _ => { div class="value bad" { "Docker?" } div class="label" { "the engine did not answer" } }
                        } }
                    div class="card" id="card-bots" { div class="label" { "Bots" }
                        div class="value" { (o.instances.running) " / " (o.instances.total) }
                        div class="label" { "running / all" } }
                }
            }
        }
    }
}

fn ports_section(ports: &PortsResponse) -> Markup {
    let s = &ports.stats;
    html! {
        section id="ports" aria-labelledby="ports-title" {
            h2 id="ports-title" { "Ports" }
            dl class="facts" {
                dt { "Range" } dd { (s.port_range.start) "–" (s.port_range.end) " (" (s.total_ports) " ports)" }
                dt { "Used by bots" } dd id="ports-used" { (s.used_ports) " (" (format!("{:.1}", s.utilization_percent)) " %)"
                    " " meter min="0" max=(s.total_ports) value=(s.used_ports) aria-label="Ports used" {} }
                dt { "Free" } dd id="ports-free" { (s.available_ports) }
                dt { "Held by bots being created" } dd { (s.reserved_ports) }
                dt { "Taken by other programs" } dd { (s.busy_on_host) }
            }
        }
    }
}

fn hosts_section(hosts: &Result<HostList, String>) -> Markup {
    html! {
        section id="hosts" aria-labelledby="hosts-title" {
            h2 id="hosts-title" { "Hosts" }
            @match hosts {
                Err(e) => p role="status" class="warn" { "The engine's hosts are not known yet: " (e) },
                Ok(list) => {
                    @if !list.engine_reachable {
                        p role="status" class="warn" { "The engine does not answer: this is the list it gave at " (when(&list.observed_at)) " UTC." }
                    }
                    div class="table-wrap" {
                        table id="hosts-table" {
                            caption class="visually-hidden" { "The engine's hosts" }
                            thead { tr {
                                th scope="col" { "Host" } th scope="col" { "Role" } th scope="col" { "State" }
                                th scope="col" { "Availability" } th scope="col" { "CPUs" } th scope="col" { "Memory" }
                                th scope="col" { "Bots" } th scope="col" { "Engine" }
                            } }
                            tbody {
                                @for h in &list.hosts {
                                    tr data-id=(h.id) {
                                        td { (h.name) @if h.local { " " span class="badge" title="The manager runs here: its metrics are the ones drawn" { "this manager" } }
                                            br; code class="small" { (h.id.chars().take(12).collect::<String>()) } }
                                        td { (name(&h.role)) }
                                        td { @let state = name(&h.state);
                                            span class=(if state == "ready" { "ok" } else { "bad" }) { (state) } }
                                        td { (h.availability.as_str()) }
                                        td { (h.cpus) }
                                        td { (bytes(h.memory_bytes)) }
                                        td { (h.bots) }
                                        td { (h.engine_version.as_deref().unwrap_or("—")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Keeps the metric choices to the chosen scope's and the bot choice to bot thresholds; fetches the
/// alerts again every few seconds (until the page is left), so one that fires shows up.
fn script(win: Window) -> String {
    format!(
        r#"
(function () {{
  var scope = document.getElementById('th-scope');
  var metric = document.getElementById('th-metric_type');
  var bot = document.getElementById('th-instance_id');
  // A refused form: the control the API named has the focus (and is scrolled to).
  var refused = document.querySelector('#threshold-form [aria-invalid=true]');
  if (refused) refused.focus();
  function sync() {{
    var groups = metric.querySelectorAll('optgroup');
    for (var i = 0; i < groups.length; i++) groups[i].disabled = groups[i].dataset.scope !== scope.value;
    var chosen = metric.options[metric.selectedIndex];
    if (!chosen || chosen.parentNode.disabled) {{
      var first = metric.querySelector('optgroup[data-scope="' + scope.value + '"] option');
      if (first) first.selected = true;
    }}
    bot.disabled = scope.value !== 'instance';
  }}
  if (scope && metric && bot) {{ scope.addEventListener('change', sync); sync(); }}

  var announce = document.getElementById('alerts-announce');
  var timer = null, stopped = false, last = null;
  function active() {{ return document.querySelectorAll('#alerts-active tbody tr').length; }}
  function schedule() {{ if (!stopped) timer = setTimeout(poll, {poll}); }}
  function poll() {{
    if (stopped) return;
    fetch('/ui/resources/alerts?window={window}', {{credentials: 'same-origin', cache: 'no-store'}})
      .then(function (r) {{ return r.ok && !r.redirected ? r.text() : null; }})
      .then(function (html) {{
        var section = document.getElementById('alerts');
        if (!stopped && html && html !== last && html.indexOf('id="alerts"') !== -1 && section) {{
          var before = active();
          var focused = section.contains(document.activeElement) ? document.activeElement.id : '';
          section.outerHTML = html;
          last = html;
          if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
          var now = active();
          if (now !== before) announce.textContent = now === 1 ? '1 active alert' : now + ' active alerts';
        }}
        schedule();
      }}, schedule);
  }}
  window.addEventListener('pagehide', function () {{ stopped = true; clearTimeout(timer); }});
  window.addEventListener('pageshow', function (e) {{ if (e.persisted) {{ stopped = false; schedule(); }} }});
  schedule();
}})();"#,
        poll = ALERTS_POLL_MS,
        window = win.key
    )
}

/// Renders the whole page.
#[allow(clippy::too_many_arguments)]
async fn resources_page(
    ui: &Ui,
    caller: &Caller,
    win: Window,
    notice: Option<Notice>,
    // Whether the notice is about the thresholds (else the alerts).
    in_thresholds: bool,
    entered: ThresholdForm,
    error: Option<(Option<String>, String)>,
    status: StatusCode,
) -> Result<Response, ApiFailure> {
    let overview = match overview(ui, caller).await {
        Ok(o) => o,
        Err(response) => return Ok(response),
    };
    let hosts = async {
        match ui
            .read::<HostList>(caller, RestCall::get("/api/v1/hosts"))
            .await
        {
            Ok(list) => Ok(Ok(list)),
            Err(ApiFailure::Refused(_, e)) => Ok(Err(e.error)),
            Err(signed_out) => Err(signed_out),
        }
    };
    let (hosts, ports, (active, resolved, thresholds), bots) = futures::try_join!(
        hosts,
        ui.read::<PortsResponse>(caller, RestCall::get("/api/v1/resources/ports")),
        alerts(ui, caller),
        ui.read::<InstanceList>(caller, RestCall::get("/api/v1/instances")),
    )?;
    let local = hosts
        .as_ref()
        .ok()
        .and_then(|l| l.hosts.iter().find(|h| h.local))
        .map(|h| h.id.clone());
    let running = overview.as_ref().map_or(0, |o| o.instances.running);
    let history = match history(ui, caller, win, running, local.as_deref()).await {
        Ok(h) => Ok(h),
        Err(ApiFailure::Refused(_, e)) => Err(e.error),
        Err(signed_out) => return Err(signed_out),
    };
    let body = html! {
        h1 { "Resources" }
        (summary(overview.as_ref()))
        // What a resolve did, just above the alerts (the polling replaces the section itself).
        @let (alerts_notice, thresholds_notice) = match notice {
            Some(n) if !in_thresholds => (Some(n), None),
            other => (None, other),
        };
        (notice_line(alerts_notice.as_ref()))
        p id="alerts-announce" class="visually-hidden" aria-live="polite" {}
        (alerts_section(win, &active, &resolved, &thresholds))
        (charts_section(win, &history))
        (ports_section(&ports))
        (hosts_section(&hosts))
        (thresholds_section(win, &thresholds, &bots, &entered, error.as_ref(), thresholds_notice.as_ref()))
        script { (PreEscaped(script(win))) }
    };
    Ok((
        status,
        layout::page("Resources", Some(layout::Section::Resources), body),
    )
        .into_response())
}

/// `GET /ui/resources`.
pub async fn page(
    ui: UiState,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let win = window(&query.window);
    let mut notice = None;
    let in_thresholds = !query.created.is_empty();
    if !query.resolved.is_empty() {
        notice = Some(Notice::Done(format!(
            "Alert {} resolved.",
            query.resolved.chars().take(8).collect::<String>()
        )));
    }
    if !query.created.is_empty() {
        notice = Some(Notice::Done(format!(
            "Threshold created: {}. It is checked from the next sample on.",
            query.created
        )));
    }
    resources_page(
        ui,
        &caller,
        win,
        notice,
        in_thresholds,
        ThresholdForm::default(),
        None,
        StatusCode::OK,
    )
    .await
}

/// `GET /ui/resources/alerts`: the alerts section alone, for the page's polling.
pub async fn alerts_fragment(
    ui: UiState,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiFailure> {
    let (active, resolved, thresholds) = alerts(&ui.0, &caller).await?;
    let section = alerts_section(window(&query.window), &active, &resolved, &thresholds);
    Ok(Html(section.into_string()).into_response())
}

/// The `window` field of a form.
#[derive(Debug, Default, Deserialize)]
pub struct WindowField {
    #[serde(default)]
    window: String,
}

/// `POST /ui/resources/alerts/{id}/resolve`: resolves the alert, then back to the page.
pub async fn resolve(
    ui: UiState,
    caller: Caller,
    Path(id): Path<String>,
    Form(form): Form<WindowField>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let win = window(&form.window);
    let path = format!("/api/v1/alerts/{}/resolve", segment(&id));
    let (status, body) = ui.call(Some(&caller), RestCall::post(path, None)).await?;
    if status.is_success() {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("window", win.key)
            .append_pair("resolved", &id)
            .finish();
        return Ok(Redirect::to(&format!("/ui/resources?{query}#notice")).into_response());
    }
    match refusal(status, &body) {
        ApiFailure::Refused(StatusCode::FORBIDDEN, e) => {
            Ok(operators_only(StatusCode::FORBIDDEN, &e.error))
        }
        ApiFailure::Refused(status, e) => {
            resources_page(
                ui,
                &caller,
                win,
                Some(Notice::Failed(format!("Not resolved: {}", e.error))),
                false,
                ThresholdForm::default(),
                None,
                status,
            )
            .await
        }
        signed_out => Err(signed_out),
    }
}

/// The request body of the form, as typed: the API reads and checks it and names a wrong field (a
/// value that is not a number goes as the text typed, for the API to refuse at its field).
fn threshold_request(form: &ThresholdForm) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    let mut put = |key: &str, value: &str| {
        if !value.trim().is_empty() {
            body.insert(key.into(), value.trim().into());
        }
    };
    put("scope", &form.scope);
    if form.scope == "instance" {
        put("instance_id", &form.instance_id);
    }
    put("metric_type", &form.metric_type);
    put("comparison", &form.comparison);
    put("webhook_url", &form.webhook_url);
    let value = form.threshold_value.trim();
    if !value.is_empty() {
        let number = value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .and_then(serde_json::Number::from_f64);
        body.insert(
            "threshold_value".into(),
            match number {
                Some(n) => serde_json::Value::Number(n),
                None => value.into(),
            },
        );
    }
    serde_json::Value::Object(body)
}

/// `POST /ui/resources/thresholds`: creates the threshold, then back to the page; a refusal shows the
/// form again with the error at its field.
pub async fn create_threshold(
    ui: UiState,
    caller: Caller,
    Form(form): Form<ThresholdForm>,
) -> Result<Response, ApiFailure> {
    let ui = &ui.0;
    let win = window(&form.window);
    let (status, body) = ui
        .call(
            Some(&caller),
            RestCall::post("/api/v1/alerts/thresholds", Some(threshold_request(&form))),
        )
        .await?;
    if status.is_success() {
        let created: shared::api::alerts::CreatedThreshold =
            serde_json::from_slice(&body).map_err(|e| super::internal(e.to_string()))?;
        let t = &created.threshold;
        let what = format!(
            "{} {} {} {}",
            if t.scope == ThresholdScope::Host {
                "host"
            } else {
                "bot"
            },
            t.metric_type.as_str(),
            comparison_sign(t.comparison.as_str()),
            number(t.threshold_value)
        );
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("window", win.key)
            .append_pair("created", &what)
            .finish();
        return Ok(Redirect::to(&format!("/ui/resources?{query}#thresholds")).into_response());
    }
    match refusal(status, &body) {
        ApiFailure::Refused(StatusCode::FORBIDDEN, e) => {
            Ok(operators_only(StatusCode::FORBIDDEN, &e.error))
        }
        ApiFailure::Refused(status, e) => {
            resources_page(
                ui,
                &caller,
                win,
                None,
                true,
                form,
                Some((e.field, e.error)),
                status,
            )
            .await
        }
        signed_out => Err(signed_out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: i64, v: f64) -> Frame {
        Frame {
            t,
            values: vec![Some(v), None],
        }
    }

    #[test]
    fn thinning_keeps_at_most_the_points_asked_for_as_means() {
        let frames: Vec<Frame> = (0..10_000).map(|i| frame(i * 1000, i as f64)).collect();
        let thinned = thin(frames, MAX_POINTS);
        assert!(thinned.len() <= MAX_POINTS && thinned.len() > MAX_POINTS - 5);
        // Each is the mean of its bucket: increasing, within the range, no value for the empty line.
        assert!(thinned.windows(2).all(|w| w[0].t < w[1].t));
        assert!(thinned.iter().all(|f| f.values[1].is_none()));
        let first = thinned[0].values[0].unwrap();
        assert!(first > 0.0 && first < 40.0, "{first}");
        // Few frames are kept as they are.
        let few: Vec<Frame> = (0..5).map(|i| frame(i, 1.0)).collect();
        assert_eq!(thin(few.clone(), MAX_POINTS), few);
    }

    #[test]
    fn pick_spreads_over_the_items_keeping_the_ends() {
        let items: Vec<i64> = (0..1000).collect();
        let picked = pick(&items, SPARSE_POINTS);
        assert_eq!(picked.len(), SPARSE_POINTS);
        assert_eq!((picked[0], *picked.last().unwrap()), (0, 999));
        assert_eq!(pick(&items[..3], SPARSE_POINTS), vec![0, 1, 2]);
    }

    #[test]
    fn axes_get_round_steps() {
        assert_eq!(y_axis(87.0), (25.0, 100.0));
        assert_eq!(y_axis(0.4), (0.2, 0.6));
        let (step, top) = y_axis(1234.0);
        assert!(step == 500.0 && top == 1500.0, "{step} {top}");
        let (ticks, seconds) = x_ticks(0, 3_600_000);
        assert!(
            !seconds && ticks.len() <= 6 && ticks.len() >= 3,
            "{ticks:?}"
        );
        assert!(ticks.iter().all(|t| t % 900_000 == 0));
        let (ticks, seconds) = x_ticks(1_000, 21_000);
        assert!(seconds && !ticks.is_empty());
    }

    #[test]
    fn a_chart_is_an_image_named_and_described_with_its_latest_values() {
        let line = Line {
            label: "Host CPU",
            style: PALETTE[0],
            points: vec![
                (0, Some(10.0)),
                (1000, None),
                (2000, Some(30.0)),
                (3000, Some(20.0)),
            ],
        };
        let svg = chart(
            "c",
            "Host CPU",
            "CPU (%)",
            " %",
            Some(100.0),
            (0, 3000),
            &[line],
        )
        .into_string();
        assert!(
            svg.contains(r#"role="img""#) && svg.contains(r#"aria-labelledby="c-title c-desc""#)
        );
        assert!(
            svg.contains("Host CPU: latest 20.0 %, lowest 10.0 %, highest 30.0 %"),
            "{svg}"
        );
        assert!(svg.contains(r#"data-points="3""#));
        // The missing value breaks the line.
        assert_eq!(
            svg.matches(" M").count() + svg.matches("\"M").count(),
            2,
            "{svg}"
        );
        assert!(svg.contains("Time (UTC)") && svg.contains("CPU (%)"));
        assert!(
            svg.contains(">25</text>") && svg.contains(">100</text>"),
            "{svg}"
        );
        assert_eq!(tick_label(0.25, 0.125), "0.250");
        assert_eq!(tick_label(0.5, 0.5), "0.5");
        assert_eq!(tick_label(1500.0, 500.0), "1500");
    }

    #[test]
    fn the_form_goes_as_typed_with_numbers_as_numbers() {
        let form = ThresholdForm {
            scope: "host".into(),
            instance_id: "ignored-for-the-host".into(),
            metric_type: "memory".into(),
            comparison: "gt".into(),
            threshold_value: " 0.5 ".into(),
            ..Default::default()
        };
        let body = threshold_request(&form);
        assert_eq!(body["threshold_value"], 0.5);
        assert!(body.get("instance_id").is_none() && body.get("webhook_url").is_none());
        let typed: shared::api::alerts::CreateThresholdRequest =
            serde_json::from_value(body).unwrap();
        assert_eq!(typed.scope(), ThresholdScope::Host);
        let bad = threshold_request(&ThresholdForm {
            threshold_value: "lots".into(),
            ..form
        });
        assert_eq!(bad["threshold_value"], "lots");
    }
}
