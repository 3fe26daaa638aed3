//! Bulk-send jobs: each recipient's message rendered from a template and sent through the provider,
//! which paces it; progress kept for `GET /api/v1/jobs/{id}`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use crate::{
    bot::Bot,
    provider::{SendError, TextOptions},
    state::now_ms,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use shared::worker_api::{BulkJob, ChatRef, JobStatus, RecipientResult, TemplateValue};

/// Sends of one job under way at once (waiting for the provider's pace, or in flight). The provider
/// paces them at the platform's limits counted from delivery, so how many are in flight does not matter
/// to the platform; a request takes milliseconds, so eight keep a pace of 30 a second fed many times
/// over, and a worker killed mid-job has at most eight sends whose result it did not keep (sent again
/// when it resumes).
const IN_FLIGHT: usize = 8;

/// Attempts per recipient on network errors (rate limits are waited out by the provider itself).
const MAX_ATTEMPTS: u32 = 3;

/// One recipient of a bulk send.
#[derive(Debug, Clone)]
pub struct BulkRecipient {
    /// The chat as the caller named it (`42`, `@chan`), for the result.
    pub label: String,
    pub chat: ChatRef,
    pub vars: BTreeMap<String, TemplateValue>,
}

impl BulkRecipient {
    pub fn new(chat: ChatRef, vars: BTreeMap<String, TemplateValue>) -> Self {
        Self {
            label: chat.to_string(),
            chat,
            vars,
        }
    }
}

/// A job that has not sent anything yet.
fn new_job(job_id: String, total: usize, start_time: i64) -> BulkJob {
    BulkJob {
        job_id,
        status: JobStatus::Running,
        success: false,
        total_recipients: total,
        processed: 0,
        success_count: 0,
        failure_count: 0,
        results: Vec::with_capacity(total),
        start_time,
        end_time: None,
        total_duration: None,
    }
}

fn record(job: &mut BulkJob, result: RecipientResult) {
    job.processed += 1;
    if result.success {
        job.success_count += 1;
    } else {
        job.failure_count += 1;
    }
    job.results.push(result);
}

fn finish(job: &mut BulkJob, end: i64) {
    job.status = JobStatus::Completed;
    job.success = job.failure_count == 0;
    job.end_time = Some(end);
    job.total_duration = Some(end - job.start_time);
}

/// A job left unfinished by an earlier run: its id, template, and the recipients still to send to (with
/// their place in the job).
pub type Unfinished = (String, String, Vec<(usize, BulkRecipient)>);

/// A recipient as kept on disk: the chat as the caller wrote it, parsed again on load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRecipient {
    pub label: String,
    pub vars: BTreeMap<String, TemplateValue>,
}

impl From<&BulkRecipient> for SavedRecipient {
    fn from(r: &BulkRecipient) -> Self {
        Self {
            label: r.label.clone(),
            vars: r.vars.clone(),
        }
    }
}

impl SavedRecipient {
    fn restore(&self) -> Option<BulkRecipient> {
        let chat = ChatRef::parse(&self.label).ok()?;
        Some(BulkRecipient {
            label: self.label.clone(),
            chat,
            vars: self.vars.clone(),
        })
    }
}

/// What a job was asked to do, written once when it is created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSpec {
    pub job_id: String,
    pub template: String,
    pub start_time: i64,
    pub recipients: Vec<SavedRecipient>,
}

/// One line of a job's results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedResult {
    pub index: usize,
    pub result: RecipientResult,
}

/// Jobs on disk: `<id>.json` (the spec) and `<id>.results` (one JSON line per finished recipient, appended
/// as each finishes), so a restarted worker sends only to the recipients not yet done.
pub struct JobStore {
    dir: std::path::PathBuf,
}

/// Finished jobs are forgotten this long after they started.
const KEEP_FINISHED_MS: i64 = 24 * 3600 * 1000;

impl JobStore {
    pub fn open(dir: std::path::PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn spec_path(&self, id: &str) -> std::path::PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn results_path(&self, id: &str) -> std::path::PathBuf {
        self.dir.join(format!("{id}.results"))
    }

    fn save_spec(&self, spec: &JobSpec) -> std::io::Result<()> {
        // Written aside and renamed, so a crash never leaves half a spec.
        let tmp = self.dir.join(format!("{}.tmp", spec.job_id));
        std::fs::write(&tmp, serde_json::to_vec(spec)?)?;
        std::fs::rename(tmp, self.spec_path(&spec.job_id))
    }

    fn append_result(
        &self,
        id: &str,
        index: usize,
        result: &RecipientResult,
    ) -> std::io::Result<()> {
        use std::io::Write;
        let mut line = serde_json::to_vec(&SavedResult {
            index,
            result: result.clone(),
        })?;
        line.push(b'\n');
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.results_path(id))?
            .write_all(&line)
    }

    /// Every kept job with its results; finished jobs older than a day are deleted instead.
    fn load(&self) -> Vec<(JobSpec, Vec<SavedResult>)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut jobs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Some(spec) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<JobSpec>(&b).ok())
            else {
                tracing::warn!(path = %path.display(), "skipping an unreadable job file");
                continue;
            };
            // A line cut short by a crash is skipped; its recipient counts as not done.
            let results: Vec<SavedResult> =
                std::fs::read_to_string(self.results_path(&spec.job_id))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
            let finished = results.len() >= spec.recipients.len();
            if finished && now_ms() - spec.start_time > KEEP_FINISHED_MS {
                let _ = std::fs::remove_file(self.results_path(&spec.job_id));
                let _ = std::fs::remove_file(&path);
                continue;
            }
            jobs.push((spec, results));
        }
        jobs.sort_by_key(|(spec, _)| spec.start_time);
        jobs
    }
}

/// `{name}` in `template` becomes `vars["name"]`; unknown placeholders stay as written.
pub fn render(template: &str, vars: &BTreeMap<String, TemplateValue>) -> String {
    let mut out = template.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{key}}}"), &value.to_string());
    }
    out
}

#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, BulkJob>>,
    /// Where jobs are kept across restarts; `None` keeps them in memory only.
    store: Option<JobStore>,
}

impl Jobs {
    /// Jobs kept in `store` (when given) so they survive a restart of the worker.
    pub fn new(store: Option<JobStore>) -> Self {
        Self {
            jobs: Mutex::default(),
            store,
        }
    }

    /// Loads the kept jobs; returns those still to finish, with the recipients still to send to.
    pub fn load(&self) -> Vec<Unfinished> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        let mut unfinished = Vec::new();
        for (spec, results) in store.load() {
            let done: std::collections::HashSet<usize> = results.iter().map(|r| r.index).collect();
            let pending: Vec<(usize, BulkRecipient)> = spec
                .recipients
                .iter()
                .enumerate()
                .filter(|(i, _)| !done.contains(i))
                .filter_map(|(i, r)| r.restore().map(|r| (i, r)))
                .collect();
            let mut job = new_job(spec.job_id.clone(), spec.recipients.len(), spec.start_time);
            for saved in results {
                record(&mut job, saved.result);
            }
            if pending.is_empty() {
                let end = job
                    .results
                    .iter()
                    .map(|r| r.timestamp)
                    .max()
                    .unwrap_or(job.start_time);
                finish(&mut job, end);
            } else {
                unfinished.push((spec.job_id.clone(), spec.template.clone(), pending));
            }
            self.jobs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(spec.job_id.clone(), job);
        }
        unfinished
    }

    pub fn get(&self, id: &str) -> Option<BulkJob> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut BulkJob)) {
        if let Some(job) = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            f(job);
        }
    }

    /// Registers a job (and keeps it, when there is a store) and returns its id.
    pub fn create(&self, template: &str, recipients: &[BulkRecipient]) -> String {
        let id = format!("job_{}_{:x}", now_ms(), rand_suffix());
        let job = new_job(id.clone(), recipients.len(), now_ms());
        if let Some(store) = &self.store {
            let spec = JobSpec {
                job_id: id.clone(),
                template: template.to_string(),
                start_time: job.start_time,
                recipients: recipients.iter().map(SavedRecipient::from).collect(),
            };
            if let Err(e) = store.save_spec(&spec) {
                tracing::warn!(job_id = %id, error = %e, "could not keep the job on disk; it will not survive a restart");
            }
        }
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), job);
        id
    }

    /// Sends to every recipient (concurrently; the provider keeps the pace) and records the results.
    pub async fn run(
        self: Arc<Self>,
        id: String,
        bot: Bot,
        template: String,
        recipients: Vec<(usize, BulkRecipient)>,
    ) -> BulkJob {
        let sends = recipients.into_iter().map(|(index, r)| {
            let (bot, template, jobs, id) =
                (bot.clone(), template.clone(), self.clone(), id.clone());
            async move {
                let text = render(&template, &r.vars);
                let mut attempts = 0;
                let outcome = loop {
                    attempts += 1;
                    match bot.send_text(&r.chat, &text, &TextOptions::default()).await {
                        Err(SendError::Failed {
                            transient: true, ..
                        }) if attempts < MAX_ATTEMPTS => {
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
                    message_id: outcome.as_ref().ok().cloned(),
                    error: outcome.err().map(|e| e.to_string()),
                    attempts,
                    timestamp: now_ms(),
                };
                if let Some(store) = &jobs.store
                    && let Err(e) = store.append_result(&id, index, &result)
                {
                    tracing::warn!(job_id = %id, error = %e, "could not keep a job result on disk");
                }
                jobs.update(&id, |job| record(job, result));
            }
        });
        // A few sends under way at a time (see IN_FLIGHT).
        futures::stream::iter(sends)
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        self.update(&id, |job| finish(job, now_ms()));
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

    #[test]
    fn a_kept_job_resumes_with_the_recipients_not_yet_done() {
        let dir = std::env::temp_dir().join(format!("botfleet-jobs-{}", uuid::Uuid::new_v4()));
        let recipients: Vec<BulkRecipient> = ["1", "@chan", "3"]
            .iter()
            .map(|label| {
                BulkRecipient::new(
                    ChatRef::parse(label).unwrap(),
                    BTreeMap::from([("name".to_string(), TemplateValue::Text(label.to_string()))]),
                )
            })
            .collect();
        let jobs = Jobs::new(Some(JobStore::open(dir.clone()).unwrap()));
        let id = jobs.create("Hi {name}", &recipients);
        let done = RecipientResult {
            recipient: "@chan".into(),
            success: true,
            message_id: Some("9".into()),
            error: None,
            attempts: 1,
            timestamp: now_ms(),
        };
        jobs.store
            .as_ref()
            .unwrap()
            .append_result(&id, 1, &done)
            .unwrap();
        // A line cut short by a crash counts as not done.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(format!("{id}.results")))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"index\":2,"))
            .unwrap();

        let reopened = Jobs::new(Some(JobStore::open(dir.clone()).unwrap()));
        let unfinished = reopened.load();
        assert_eq!(unfinished.len(), 1);
        let (loaded_id, template, pending) = &unfinished[0];
        assert_eq!((loaded_id, template.as_str()), (&id, "Hi {name}"));
        let indexes: Vec<usize> = pending.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [0, 2]);
        assert_eq!(pending[1].1.vars["name"], TemplateValue::Text("3".into()));
        let job = reopened.get(&id).unwrap();
        assert_eq!(
            (job.processed, job.success_count, job.status),
            (1, 1, JobStatus::Running)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn templates_fill_known_placeholders() {
        let vars: BTreeMap<String, TemplateValue> =
            serde_json::from_str(r#"{"name": "Ann", "n": 3}"#).unwrap();
        assert_eq!(
            render("Hello {name}, you have {n} {things}", &vars),
            "Hello Ann, you have 3 {things}"
        );
    }
}
