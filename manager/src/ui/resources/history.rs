//! The kept history of the host and its bots, read from the API and thinned to what a chart draws.

use std::collections::BTreeMap;

use futures::StreamExt;
use mcp::{RestCall, segment};
use shared::api::{
    hosts::{HostMetricsHistory, HostMetricsQuery},
    resources::{
        InstanceResources, ResourceHistoryQuery, ResourceHistoryResponse, ResourceSample,
        parse_timestamp_ms,
    },
};

use super::Window;
use crate::ui::{ApiFailure, Caller, Ui};

/// At most this many points per line.
const MAX_POINTS: usize = 300;
/// Bots drawn: those with the most memory in the latest sample.
const TOP_BOTS: usize = 8;

/// One moment of several lines: a value per line (`None`: the line has no value then).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frame {
    pub(super) t: i64,
    pub(super) values: Vec<Option<f64>>,
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

/// A bot drawn in the bots' charts.
#[derive(Debug, Clone)]
pub(super) struct BotLine {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) cpu: f64,
    pub(super) memory_bytes: u64,
    pub(super) memory_limit_bytes: u64,
}

/// The history of the window, ready to draw.
#[derive(Debug, Default)]
pub(super) struct History {
    /// `[cpu %, memory %]` of the host.
    pub(super) host: Vec<Frame>,
    /// The bots drawn, most memory first.
    pub(super) bots: Vec<BotLine>,
    /// `[cpu % of bot 0.., memory MB of bot 0..]`.
    pub(super) bot_frames: Vec<Frame>,
    /// Bots in the latest sample.
    pub(super) running: usize,
    /// Samples kept in the window.
    pub(super) kept: u64,
    pub(super) from: i64,
    pub(super) to: i64,
}

impl History {
    /// The time the charts span: the window, or from the oldest kept sample when the manager keeps
    /// less than the window (`true` then).
    pub(super) fn span(&self) -> ((i64, i64), bool) {
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

/// The top bots of the latest sample by memory.
fn top_bots(latest: &InstanceResources) -> Vec<BotLine> {
    let mut bots: Vec<BotLine> = latest
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

/// The bots' frames: at each sample time any of `histories` holds, CPU then memory (MB) of each bot
/// (the histories in the order of the bots).
fn bot_frames(histories: &[Vec<ResourceSample>]) -> Vec<Frame> {
    let n = histories.len();
    let mut frames: BTreeMap<i64, Vec<Option<f64>>> = BTreeMap::new();
    for (k, samples) in histories.iter().enumerate() {
        for sample in samples {
            let (Some(t), Some(bot)) = (
                parse_timestamp_ms(&sample.timestamp),
                sample.instances.first(),
            ) else {
                continue;
            };
            let values = frames.entry(t).or_insert_with(|| vec![None; n * 2]);
            values[k] = Some(bot.cpu_percent);
            values[n + k] = Some(bot.memory_bytes as f64 / (1024.0 * 1024.0));
        }
    }
    frames
        .into_iter()
        .map(|(t, values)| Frame { t, values })
        .collect()
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

/// At most `MAX_POINTS` kept samples of the window, with every bot's figures or only `instance_id`'s
/// (then only the samples that kept them).
async fn history_between(
    ui: &Ui,
    caller: &Caller,
    (from, to): (i64, i64),
    instance_id: Option<&str>,
) -> Result<ResourceHistoryResponse, ApiFailure> {
    let query = ResourceHistoryQuery {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        instance_id: instance_id.map(str::to_string),
        max_points: Some(MAX_POINTS as u32),
    };
    ui.read(
        caller,
        RestCall::get(format!("/api/v1/resources/history{}", mcp::query(&query))),
    )
    .await
}

/// The window's history: the host's from its own (thinned) history when the manager's host is known,
/// else from the resource history; the bots with the most memory now from the latest sample, and each
/// one's line from the resource history asked for that bot alone (so the answers stay small however
/// many bots run).
pub(super) async fn read(
    ui: &Ui,
    caller: &Caller,
    win: Window,
    local_host: Option<&str>,
) -> Result<History, ApiFailure> {
    let to = crate::fleet::now_ms();
    let from = to - win.ms;
    let mut out = History {
        from,
        to,
        ..Default::default()
    };
    match local_host {
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
            let h: HostMetricsHistory = ui.read(caller, RestCall::get(path)).await?;
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
        None => {
            let samples = history_between(ui, caller, (from, to), None).await?.data;
            out.kept = samples.len() as u64;
            out.host = samples.iter().map(host_frame).collect();
        }
    }
    let latest: InstanceResources = match ui
        .read(
            caller,
            RestCall::get("/api/v1/resources/instances".to_string()),
        )
        .await
    {
        Ok(latest) => latest,
        // No sample yet: no bot lines.
        Err(_) => return Ok(out),
    };
    out.running = latest.instances.len();
    out.bots = top_bots(&latest);
    let ids: Vec<String> = out.bots.iter().map(|b| b.id.clone()).collect();
    let histories: Vec<Result<ResourceHistoryResponse, ApiFailure>> = futures::stream::iter(ids)
        .map(|id| async move { history_between(ui, caller, (from, to), Some(&id)).await })
        .buffered(4)
        .collect()
        .await;
    let mut lines = Vec::with_capacity(histories.len());
    for history in histories {
        // A bot deleted since the latest sample has no line.
        lines.push(history.map(|h| h.data).unwrap_or_default());
    }
    out.bot_frames = thin(bot_frames(&lines), MAX_POINTS);
    Ok(out)
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
}
