//! Bulk-send jobs: each recipient's message rendered from a template and sent through the throttled
//! sender; progress kept for `GET /api/v1/jobs/{id}`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use teloxide::{RequestError, types::Recipient};

use crate::{bot::TelegramBot, state::now_ms};

/// Sends of one job in flight at once. teloxide's throttle releases queued sends in rounds every
/// 250 ms, so this bounds a job to 4 × IN_FLIGHT messages per second before the limits apply.
const IN_FLIGHT: usize = 8;

/// Attempts per recipient on network errors (Telegram's 429s are waited out by the throttle itself).
const MAX_ATTEMPTS: u32 = 3;

/// One recipient of a bulk send.
#[derive(Debug, Clone)]
pub struct BulkRecipient {
    /// As the caller wrote it, for the result.
    pub label: String,
    pub chat: Recipient,
    pub vars: Map<String, Value>,
}

/// The outcome for one recipient (seed `002` shape).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientResult {
    pub recipient: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub attempts: u32,
    pub timestamp: i64,
}

/// A job's state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: String,
    /// `running` or `completed`.
    pub status: &'static str,
    pub success: bool,
    pub total_recipients: usize,
    pub processed: usize,
    pub success_count: usize,
    pub failure_count: usize,
    pub results: Vec<RecipientResult>,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub total_duration: Option<i64>,
}

/// `{name}` in `template` becomes `vars["name"]`; unknown placeholders stay as written.
pub fn render(template: &str, vars: &Map<String, Value>) -> String {
    let mut out = template.to_string();
    for (key, value) in vars {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("{{{key}}}"), &text);
    }
    out
}

#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Job>>,
}

impl Jobs {
    pub fn get(&self, id: &str) -> Option<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            f(job);
        }
    }

    /// Registers a job and returns its id.
    pub fn create(&self, total: usize) -> String {
        let id = format!("job_{}", now_ms());
        let id = format!("{id}_{:x}", rand_suffix());
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(
            id.clone(),
            Job {
                job_id: id.clone(),
                status: "running",
                success: false,
                total_recipients: total,
                processed: 0,
                success_count: 0,
                failure_count: 0,
                results: Vec::with_capacity(total),
                start_time: now_ms(),
                end_time: None,
                total_duration: None,
            },
        );
        id
    }

    /// Sends to every recipient (concurrently; the throttle keeps the pace) and records the results.
    pub async fn run(
        self: Arc<Self>,
        id: String,
        bot: TelegramBot,
        template: String,
        recipients: Vec<BulkRecipient>,
    ) -> Job {
        let sends = recipients.into_iter().map(|r| {
            let (bot, template, jobs, id) =
                (bot.clone(), template.clone(), self.clone(), id.clone());
            async move {
                let text = render(&template, &r.vars);
                let mut attempts = 0;
                let outcome = loop {
                    attempts += 1;
                    match bot.send_text(r.chat.clone(), text.clone()).await {
                        Err(RequestError::Network(_)) if attempts < MAX_ATTEMPTS => {
                            tokio::time::sleep(std::time::Duration::from_millis(
                                200 * u64::from(attempts),
                            ))
                            .await;
                        }
                        other => break other,
                    }
                };
                let result = RecipientResult {
                    recipient: r.label,
                    success: outcome.is_ok(),
                    message_id: outcome.as_ref().ok().map(|id| id.to_string()),
                    error: outcome.err().map(|e| crate::api::provider_error_text(&e)),
                    attempts,
                    timestamp: now_ms(),
                };
                jobs.update(&id, |job| {
                    job.processed += 1;
                    if result.success {
                        job.success_count += 1;
                    } else {
                        job.failure_count += 1;
                    }
                    job.results.push(result);
                });
            }
        });
        // A few sends in flight at a time: the throttle paces when requests start, and a deep backlog of
        // started requests could still reach Telegram in a burst.
        futures::stream::iter(sends)
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        self.update(&id, |job| {
            let end = now_ms();
            job.status = "completed";
            job.success = job.failure_count == 0;
            job.end_time = Some(end);
            job.total_duration = Some(end - job.start_time);
        });
        self.get(&id).expect("the job was registered")
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_fill_known_placeholders() {
        let vars = json!({"name": "Ann", "n": 3}).as_object().unwrap().clone();
        assert_eq!(
            render("Hello {name}, you have {n} {things}", &vars),
            "Hello Ann, you have 3 {things}"
        );
    }
}
