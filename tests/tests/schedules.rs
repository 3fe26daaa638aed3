//! Scheduled messages end to end, against the fake Telegram: one-offs and cron schedules reach the right
//! chat with the right text and are recorded as runs; a manager killed (SIGKILL, or right after a send
//! and before recording it) and restarted neither loses nor doubles a send; a due time missed while the
//! manager was down is sent once late (or skipped with `missed: skip`); disabled schedules send nothing;
//! bad bodies are refused naming the field; and the worker sends once per `Idempotency-Key`.

use std::{collections::BTreeSet, time::Duration};

use botfleet_tests::{
    fake_telegram::{FakeTelegram, SentMessage},
    harness::{self, Created, Manager, ManagerOptions, send},
};
use serde_json::{Value, json};

/// An RFC 3339 instant `ms` from now.
fn in_ms(ms: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(ms))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Unix ms of an RFC 3339 instant.
fn ms_of(t: &Value) -> i64 {
    let t = time::OffsetDateTime::parse(
        t.as_str().expect("a time"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn sent_to(fake: &FakeTelegram, chat: i64) -> Vec<SentMessage> {
    fake.sent()
        .into_iter()
        .filter(|s| s.chat_id.to_string().trim_matches('"') == chat.to_string())
        .collect()
}

fn schedules_path(id: &str) -> String {
    format!("/api/v1/instances/{id}/schedules")
}

async fn create(m: &Manager, id: &str, body: Value) -> Value {
    let (status, view) = m.post(&schedules_path(id), &body).await;
    assert_eq!(status, 201, "{view}");
    view
}

async fn put(m: &Manager, path: &str, body: &Value) -> (u16, Value) {
    send(m.request(reqwest::Method::PUT, path).json(body)).await
}

async fn runs(m: &Manager, id: &str, schedule_id: &str) -> Vec<Value> {
    let (status, body) = m
        .get(&format!(
            "{}/{schedule_id}/runs?limit=500",
            schedules_path(id)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["runs"].as_array().unwrap().clone()
}

/// Waits until the schedule's runs satisfy `pred` (60 s at most); returns them.
async fn wait_runs(
    m: &Manager,
    id: &str,
    schedule_id: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let runs = runs(m, id, schedule_id).await;
        if pred(&runs) {
            return runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting on the runs of {schedule_id}: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn with_status<'a>(runs: &'a [Value], status: &str) -> Vec<&'a Value> {
    runs.iter().filter(|r| r["status"] == status).collect()
}

/// Stops a schedule (PUT with `enabled: false`) and lets a send in flight finish.
async fn disable(m: &Manager, id: &str, schedule: &Value, body: &Value) {
    let mut body = body.clone();
    body["enabled"] = json!(false);
    let path = format!(
        "{}/{}",
        schedules_path(id),
        schedule["id"].as_str().unwrap()
    );
    let (status, view) = put(m, &path, &body).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["next_run_at"], Value::Null);
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The sent runs' message ids are exactly the ids of the messages the fake got in `chat`: every send
/// has its run, and no due time was sent twice.
fn assert_one_message_per_sent_run(fake: &FakeTelegram, chat: i64, runs: &[Value]) {
    let at_fake: Vec<String> = sent_to(fake, chat)
        .iter()
        .map(|s| s.message_id.to_string())
        .collect();
    let recorded: Vec<String> = with_status(runs, "sent")
        .iter()
        .map(|r| r["message_id"].as_str().unwrap().to_string())
        .collect();
    let unique: BTreeSet<&String> = recorded.iter().collect();
    assert_eq!(unique.len(), recorded.len(), "a message id twice: {runs:?}");
    assert_eq!(
        unique,
        at_fake.iter().collect::<BTreeSet<_>>(),
        "the fake got other messages than the runs recorded: {runs:?}"
    );
    assert_eq!(at_fake.len(), recorded.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn one_offs_and_cron_schedules_reach_their_chat_and_are_recorded() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(13_000_001, "sched_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let id = Created::from_body(&m.create_settled("sched", &token).await).id;

    let once = create(
        &m,
        &id,
        json!({"chat_id": 5001, "message": "once, at last", "at": in_ms(3000), "name": "one-off"}),
    )
    .await;
    assert_eq!(once["next_run_at"], once["at"]);
    assert_eq!(once["timezone"], "UTC");
    assert_eq!(once["last_run"], Value::Null);
    let cron_body = json!({"chat_id": "5002", "message": "every 3 s", "cron": "*/3 * * * * *",
        "timezone": "Europe/Berlin"});
    let cron = create(&m, &id, cron_body.clone()).await;
    let next = ms_of(&cron["next_run_at"]);
    assert_eq!(next % 3000, 0, "{cron}");
    let off = create(
        &m,
        &id,
        json!({"chat_id": 5003, "message": "never", "cron": "* * * * * *", "enabled": false}),
    )
    .await;
    assert_eq!(off["next_run_at"], Value::Null);
    let days = create(
        &m,
        &id,
        json!({"chat_id": 5004, "message": "standup", "days": ["wed", "mon", "mon"], "time": "09:30",
            "timezone": "America/New_York", "missed": "skip", "grace_secs": 0}),
    )
    .await;
    assert_eq!(days["days"], json!(["mon", "wed"]));
    assert_eq!(days["missed"], "skip");
    // 09:30 in New York is 13:30 or 14:30 UTC.
    let next_days = days["next_run_at"].as_str().unwrap();
    assert!(
        next_days.contains("T13:30:00") || next_days.contains("T14:30:00"),
        "{days}"
    );

    let once_id = once["id"].as_str().unwrap();
    let once_runs = wait_runs(&m, &id, once_id, |r| {
        r.first().is_some_and(|r| r["status"] == "sent")
    })
    .await;
    assert_eq!(once_runs.len(), 1);
    assert_eq!(once_runs[0]["due_at"], once["at"]);
    assert_eq!(once_runs[0]["attempts"], 1);
    let to_once = sent_to(&fake, 5001);
    assert_eq!(to_once.len(), 1);
    assert_eq!(to_once[0].text, "once, at last");
    assert_eq!(
        once_runs[0]["message_id"],
        json!(to_once[0].message_id.to_string())
    );
    let (_, view) = m.get(&format!("{}/{once_id}", schedules_path(&id))).await;
    assert_eq!(view["next_run_at"], Value::Null, "a one-off runs once");
    assert_eq!(view["last_run"]["status"], "sent");

    let cron_id = cron["id"].as_str().unwrap();
    wait_runs(&m, &id, cron_id, |r| with_status(r, "sent").len() >= 3).await;
    disable(&m, &id, &cron, &cron_body).await;
    let cron_runs = runs(&m, &id, cron_id).await;
    assert!(
        cron_runs.iter().all(|r| r["status"] == "sent"),
        "{cron_runs:?}"
    );
    assert!(cron_runs.iter().all(|r| ms_of(&r["due_at"]) % 3000 == 0));
    assert!(sent_to(&fake, 5002).iter().all(|s| s.text == "every 3 s"));
    assert_one_message_per_sent_run(&fake, 5002, &cron_runs);
    // Disabled: nothing more.
    let count = sent_to(&fake, 5002).len();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(sent_to(&fake, 5002).len(), count);
    assert!(sent_to(&fake, 5003).is_empty());
    assert!(runs(&m, &id, off["id"].as_str().unwrap()).await.is_empty());

    let (status, list) = m.get(&schedules_path(&id)).await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 4);
    assert_eq!(list["schedules"][0]["id"], once["id"]);
    assert_eq!(list["schedules"][0]["last_run"]["status"], "sent");
    assert_eq!(list["schedules"][1]["last_run"]["status"], "sent");

    // Bad bodies: 422 naming the field.
    let ok = json!({"chat_id": 1, "message": "x", "cron": "0 9 * * *"});
    for (change, field) in [
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"cron": "61 * * * *"}), "cron"),
        (json!({"cron": "* * *"}), "cron"),
        (json!({"cron": "0 0 30 2 *"}), "cron"),
        (json!({"cron": null}), "cron"),
        (json!({"at": in_ms(60_000)}), "at"),
        (json!({"cron": null, "at": "tomorrow"}), "at"),
        (json!({"cron": null, "at": in_ms(-3_600_000)}), "at"),
        (json!({"time": "09:00"}), "time"),
        (json!({"cron": null, "days": ["mon"]}), "time"),
        (json!({"cron": null, "time": "25:00"}), "time"),
        (
            json!({"cron": null, "time": "09:00", "days": ["funday"]}),
            "days[0]",
        ),
        (json!({"message": ""}), "message"),
        (json!({"message": "x".repeat(4097)}), "message"),
        (json!({"chat_id": "no spaces"}), "chat_id"),
        (json!({"starts_at": "soon"}), "starts_at"),
        (
            json!({"starts_at": in_ms(10_000), "ends_at": in_ms(5_000)}),
            "ends_at",
        ),
        (json!({"ends_at": in_ms(-10_000)}), "ends_at"),
        (json!({"missed": "never"}), "missed"),
        (json!({"grace_secs": -1}), "grace_secs"),
        (json!({"grace_secs": 604_801}), "grace_secs"),
        (json!({"when": "now"}), "when"),
    ] {
        let mut body = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, error) = m.post(&schedules_path(&id), &body).await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    // Unknown ids are 404s; a deleted schedule is gone with its runs.
    let (status, _) = m.get(&format!("{}/nope", schedules_path(&id))).await;
    assert_eq!(status, 404);
    let (status, _) = m.get(&format!("{}/nope/runs", schedules_path(&id))).await;
    assert_eq!(status, 404);
    let (status, _) = m.get(&schedules_path("nope")).await;
    assert_eq!(status, 404);
    let (status, _) = m
        .delete(&format!("{}/{cron_id}", schedules_path(&id)))
        .await;
    assert_eq!(status, 204);
    let (status, _) = m
        .delete(&format!("{}/{cron_id}", schedules_path(&id)))
        .await;
    assert_eq!(status, 404);
    // Deleting the instance deletes its schedules.
    let (status, body) = m.delete(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = m.get(&schedules_path(&id)).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_manager_neither_loses_nor_doubles_a_send() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(13_000_002, "sched_kill_bot");
    let options = ManagerOptions::new(&tg_url).await;
    let mut m = Manager::spawn(options.clone());
    let id = Created::from_body(&m.create_settled("sched", &token).await).id;
    let body = json!({"chat_id": 6001, "message": "tick", "cron": "*/2 * * * * *"});
    let schedule = create(&m, &id, body.clone()).await;
    let sid = schedule["id"].as_str().unwrap().to_string();
    wait_runs(&m, &id, &sid, |r| with_status(r, "sent").len() >= 2).await;
    m.kill();
    // Down for several due times.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let m2 = Manager::spawn(options);
    let before = runs(&m2, &id, &sid).await.len();
    wait_runs(&m2, &id, &sid, |r| {
        r.len() >= before + 3 && with_status(r, "sent").len() == r.len()
    })
    .await;
    disable(&m2, &id, &schedule, &body).await;
    let all = runs(&m2, &id, &sid).await;
    assert!(all.iter().all(|r| r["status"] == "sent"), "{all:?}");
    assert_one_message_per_sent_run(&fake, 6001, &all);
    // Only the newest of the due times missed while the manager was down was sent (late), once; the
    // others are counted, so every due time from the first to the last is accounted for exactly once.
    let late: Vec<&Value> = all
        .iter()
        .filter(|r| r["superseded"].as_i64() > Some(0))
        .collect();
    assert_eq!(late.len(), 1, "{all:?}");
    let dues: Vec<i64> = all.iter().map(|r| ms_of(&r["due_at"])).collect();
    let (first, last) = (*dues.iter().min().unwrap(), *dues.iter().max().unwrap());
    let accounted: i64 = all
        .iter()
        .map(|r| 1 + r["superseded"].as_i64().unwrap())
        .sum();
    assert_eq!(accounted, (last - first) / 2000 + 1, "{all:?}");
    drop(m2);
    drop(m);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manager_that_dies_between_send_and_record_does_not_send_again() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(13_000_003, "sched_crash_bot");
    let options = ManagerOptions::new(&tg_url).await;
    let mut crashing = options.clone();
    crashing.env.push((
        "BOTFLEET_TEST_FAILPOINT".into(),
        "schedule_exit_after_send".into(),
    ));
    let mut m = Manager::spawn(crashing);
    let id = Created::from_body(&m.create_settled("sched", &token).await).id;
    let schedule = create(
        &m,
        &id,
        json!({"chat_id": 6101, "message": "exactly once", "at": in_ms(2000)}),
    )
    .await;
    let sid = schedule["id"].as_str().unwrap().to_string();
    // The manager exits by itself once the worker has sent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !m.log().contains("failpoint: exiting after a send") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failpoint never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    m.kill();
    assert_eq!(sent_to(&fake, 6101).len(), 1);
    let m2 = Manager::spawn(options);
    // The run was left pending; the new manager asks again with the same key and records the answer
    // the worker gave the first time.
    let all = wait_runs(&m2, &id, &sid, |r| {
        r.first().is_some_and(|r| r["status"] == "sent")
    })
    .await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["attempts"], 2, "{all:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sent_to(&fake, 6101).len(), 1, "sent twice");
    assert_one_message_per_sent_run(&fake, 6101, &all);
    drop(m2);
    drop(m);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_due_while_the_manager_was_down_is_sent_late_or_skipped() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(13_000_004, "sched_late_bot");
    let options = ManagerOptions::new(&tg_url).await;
    let mut m = Manager::spawn(options.clone());
    let id = Created::from_body(&m.create_settled("sched", &token).await).id;
    let at = in_ms(4000);
    let late = create(
        &m,
        &id,
        json!({"chat_id": 7001, "message": "better late", "at": at}),
    )
    .await;
    let skipped = create(
        &m,
        &id,
        json!({"chat_id": 7002, "message": "now or never", "at": at, "missed": "skip"}),
    )
    .await;
    let expired = create(
        &m,
        &id,
        json!({"chat_id": 7003, "message": "too late", "at": at, "grace_secs": 5}),
    )
    .await;
    m.kill();
    // Past the on-time tolerance (10 s) and the 5 s grace.
    let due = ms_of(&json!(at));
    let now = ms_of(&json!(in_ms(0)));
    tokio::time::sleep(Duration::from_millis((due + 13_000 - now).max(0) as u64)).await;
    let m2 = Manager::spawn(options);
    let done = |r: &[Value]| r.first().is_some_and(|r| r["status"] != "pending");
    let late_runs = wait_runs(&m2, &id, late["id"].as_str().unwrap(), done).await;
    assert_eq!(late_runs[0]["status"], "sent", "{late_runs:?}");
    assert!(ms_of(&late_runs[0]["created_at"]) - due >= 10_000);
    let skipped_runs = wait_runs(&m2, &id, skipped["id"].as_str().unwrap(), done).await;
    assert_eq!(
        skipped_runs[0]["status"], "skipped_late",
        "{skipped_runs:?}"
    );
    assert!(
        skipped_runs[0]["reason"]
            .as_str()
            .unwrap()
            .contains("missed: skip")
    );
    let expired_runs = wait_runs(&m2, &id, expired["id"].as_str().unwrap(), done).await;
    assert_eq!(
        expired_runs[0]["status"], "skipped_late",
        "{expired_runs:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sent_to(&fake, 7001).len(), 1);
    assert!(sent_to(&fake, 7002).is_empty());
    assert!(sent_to(&fake, 7003).is_empty());
    drop(m2);
    drop(m);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_sends_once_per_idempotency_key() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(13_000_005, "sched_key_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let created = Created::from_body(&m.create_settled("sched", &token).await);
    let key = harness::control_key(&m.options, &created.id).await;
    let client = reqwest::Client::new();
    let post = |idempotency_key: &str, body: Value| {
        client
            .post(format!("{}/send", created.worker_url))
            .bearer_auth(&key)
            .header("Idempotency-Key", idempotency_key)
            .json(&body)
            .send()
    };
    let body = json!({"chatId": 8001, "message": "once"});
    let first = post("run-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = post("run-1", body.clone()).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(sent_to(&fake, 8001).len(), 1);
    // Another key sends; the same key for another message is refused; a malformed key too.
    assert_eq!(post("run-2", body.clone()).await.unwrap().status(), 200);
    assert_eq!(sent_to(&fake, 8001).len(), 2);
    let other = post("run-1", json!({"chatId": 8001, "message": "other"}))
        .await
        .unwrap();
    assert_eq!(other.status(), 422);
    assert_eq!(
        other.json::<Value>().await.unwrap()["field"],
        "Idempotency-Key"
    );
    let bad = post("has space", body.clone()).await.unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["field"],
        "Idempotency-Key"
    );

    // The worker keeps its keys on its volume: after a crash and restart, a repeat sends nothing.
    m.kill_worker(&created.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let replayed = loop {
        if let Ok(r) = post("run-1", body.clone()).await
            && r.status() == 200
        {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.json::<Value>().await.unwrap(), first);
    assert_eq!(sent_to(&fake, 8001).len(), 2);
}
