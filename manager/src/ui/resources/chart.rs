//! The charts: lines over time as inline SVG, each an image named by its title and described by its
//! latest, lowest and highest values.

use maud::{Markup, html};
use mcp::segment;

use super::history::{Frame, History};
use super::{WINDOWS, Window, bytes, clock};

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

pub(super) fn number(v: f64) -> String {
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

pub(super) fn charts_section(win: Window, history: &Result<History, String>) -> Markup {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
