//! Alert evaluation after each resource sample: a threshold whose condition holds raises one alert per
//! target (the host or an instance), which resolves by itself when the value recovers. Raising and
//! resolving can notify the threshold's webhook.

use std::collections::HashMap;

use serde_json::json;

use crate::{
    fleet::{Fleet, now_ms},
    monitor::resources::Sample,
    store::alerts::{Alert, Threshold},
};

// Which metrics a threshold of each scope can watch, and the comparisons: `shared::api::alerts`
// (`ThresholdScope::metrics`, `Comparison`); thresholds are stored with those names.

pub fn holds(comparison: &str, value: f64, threshold: f64) -> bool {
    match comparison {
        "gt" => value > threshold,
        "gte" => value >= threshold,
        "lt" => value < threshold,
        "lte" => value <= threshold,
        _ => false,
    }
}

/// (target, value) pairs a threshold applies to in this sample.
fn observe(t: &Threshold, sample: &Sample, fleet: &Fleet) -> Vec<(String, f64)> {
    if t.scope == "host" {
        let v = match t.metric_type.as_str() {
            "cpu" => sample.host.cpu_percent,
            "memory" => sample.host.memory_percent,
            "disk" => sample.host.disk_percent,
            _ => return vec![],
        };
        return vec![("host".into(), v)];
    }
    let usage: HashMap<&str, _> = sample
        .instances
        .iter()
        .map(|i| (&*i.instance_id, &i.usage))
        .collect();
    fleet
        .cache
        .list()
        .iter()
        .filter(|r| t.instance_id.as_ref().is_none_or(|id| *id == r.id))
        .filter_map(|r| {
            let v = match t.metric_type.as_str() {
                "cpu" => usage.get(r.id.as_str())?.cpu_percent,
                "memory" => {
                    let u = usage.get(r.id.as_str())?;
                    crate::monitor::resources::percent(u.memory_bytes, u.memory_limit_bytes)
                }
                "restarts" => r.restart_count as f64,
                "health" => {
                    if r.health_ok {
                        1.0
                    } else {
                        0.0
                    }
                }
                _ => return None,
            };
            Some((r.id.clone(), v))
        })
        .collect()
}

/// Raises and resolves alerts for one sample.
pub async fn evaluate(
    fleet: &Fleet,
    client: &netguard::Outbound,
    sample: &Sample,
) -> Result<(), sqlx::Error> {
    let thresholds = fleet.store.thresholds().await?;
    if thresholds.is_empty() {
        return Ok(());
    }
    let active = fleet.store.alerts(Some("active"), None, 10_000).await?;
    let now = now_ms();
    for t in thresholds.iter().filter(|t| t.enabled) {
        let observed = observe(t, sample, fleet);
        for (target, value) in &observed {
            let open = active
                .iter()
                .find(|a| a.threshold_id == t.id && a.target == *target);
            let firing = holds(&t.comparison, *value, t.threshold_value);
            match (firing, open) {
                (true, None) => {
                    let alert = Alert {
                        id: uuid::Uuid::new_v4().to_string(),
                        threshold_id: t.id.clone(),
                        target: target.clone(),
                        metric_type: t.metric_type.clone(),
                        value: *value,
                        threshold_value: t.threshold_value,
                        status: "active".into(),
                        message: format!(
                            "{} {} of {target} is {value:.2} ({} {})",
                            t.scope, t.metric_type, t.comparison, t.threshold_value
                        ),
                        fired_at: now,
                        resolved_at: None,
                    };
                    fleet.store.insert_alert(&alert).await?;
                    tracing::warn!(alert = %alert.message, "alert fired");
                    notify(client, t, "alert.fired", &alert);
                }
                (false, Some(a)) => {
                    if let Some(resolved) = fleet.store.resolve_alert(&a.id, now).await? {
                        tracing::info!(alert = %resolved.message, "alert resolved");
                        notify(client, t, "alert.resolved", &resolved);
                    }
                }
                _ => {}
            }
        }
        // A target that no longer exists (deleted instance) resolves its alert.
        for a in active.iter().filter(|a| a.threshold_id == t.id) {
            if !observed.iter().any(|(target, _)| *target == a.target)
                && t.scope != "host"
                && fleet.cache.get(&a.target).is_none()
                && let Some(resolved) = fleet.store.resolve_alert(&a.id, now).await?
            {
                notify(client, t, "alert.resolved", &resolved);
            }
        }
    }
    Ok(())
}

/// The client of thresholds' webhooks: user-given URLs, so the guarded one (`--outbound-allow`).
pub fn hook_client(policy: netguard::Policy) -> Result<netguard::Outbound, reqwest::Error> {
    netguard::Outbound::builder(policy)
        .timeout(HOOK_TIMEOUT)
        .user_agent(concat!("botfleet-alerts/", env!("CARGO_PKG_VERSION")))
        .build()
}

const HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn notify(client: &netguard::Outbound, t: &Threshold, event: &'static str, alert: &Alert) {
    let Some(url) = t.webhook_url.clone() else {
        return;
    };
    let body = json!({ "event": event, "alert": alert });
    let (client, threshold) = (client.clone(), t.id.clone());
    tokio::spawn(async move {
        match client.post(&url).json(&body).send().await {
            Ok(_) => {}
            Err(netguard::Error::Refused(refused)) => {
                tracing::warn!(%threshold, event, reason = %refused, "alert webhook not called");
            }
            Err(netguard::Error::Http(e)) => {
                tracing::warn!(%threshold, event, error = %e.without_url(), "alert webhook failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn comparisons() {
        assert!(super::holds("gt", 2.0, 1.0));
        assert!(!super::holds("gt", 1.0, 1.0));
        assert!(super::holds("gte", 1.0, 1.0));
        assert!(super::holds("lt", 0.0, 1.0));
        assert!(super::holds("lte", 1.0, 1.0));
        assert!(!super::holds("eq", 1.0, 1.0));
    }
}
