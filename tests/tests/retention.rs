//! Storage that stays bounded (issue #16): rows of every kept kind — events, messages, webhook
//! deliveries, status changes, errors, settings changes, scheduled runs, alerts — older than their
//! retention are forgotten by the manager's sweep; younger ones, pending deliveries and active alerts
//! stay. On SQLite and, in the PostgreSQL phase, on PostgreSQL.

use std::time::Duration;

use botfleet_tests::harness::{self, Manager, ManagerOptions};

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `(table, rows)` of every table the test fills, counted.
async fn counts(pool: &sqlx::AnyPool) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "events",
        "messages",
        "webhook_deliveries",
        "status_history",
        "instance_errors",
        "settings_history",
        "schedule_runs",
        "alerts",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .unwrap();
        out.push((table, n));
    }
    out
}

async fn run(pool: &sqlx::AnyPool, sql: &str, binds: &[i64]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One old (`old`) and one recent (`new`) row of each kind, plus rows that stay whatever their age: a
/// pending delivery and an active alert.
async fn seed(pool: &sqlx::AnyPool, old: i64, new: i64) {
    for (id, at) in [("e-old", old), ("e-new", new)] {
        run(
            pool,
            &format!(
                "INSERT INTO events (id, at, event_type, instance_id, message) \
                 VALUES ('{id}', $1, 'instance.started', 'i1', 'started')"
            ),
            &[at],
        )
        .await;
        run(
            pool,
            &format!(
                "INSERT INTO messages (id, instance_id, chat_id, direction, text, at) \
                 VALUES ('m-{id}', 'i1', 42, 'in', 'hello', $1)"
            ),
            &[at],
        )
        .await;
        run(
            pool,
            &format!(
                "INSERT INTO settings_history (id, instance_id, scope, key, old_value, new_value, secret, \
                 changed_by, changed_at, change_type, seq) \
                 VALUES ('s-{id}', 'i1', 'bot', 'system_prompt', NULL, 'x', 0, 'admin', $1, 'updated', 0)"
            ),
            &[at],
        )
        .await;
        run(
            pool,
            &format!(
                "INSERT INTO webhook_deliveries (id, instance_id, event_type, payload, status, attempts, \
                 next_attempt_at, created_at, finished_at) \
                 VALUES ('d-{id}', 'i1', 'message.in', '{{}}', 'delivered', 1, $1, $1, $1)"
            ),
            &[at],
        )
        .await;
        run(
            pool,
            &format!(
                "INSERT INTO alerts (id, threshold_id, target, metric_type, value, threshold_value, \
                 status, message, fired_at, resolved_at) \
                 VALUES ('a-{id}', 't1', 'host', 'cpu', 95.0, 90.0, 'resolved', 'cpu high', $1, $1)"
            ),
            &[at],
        )
        .await;
        run(
            pool,
            &format!(
                "INSERT INTO schedule_runs (schedule_id, due_at, instance_id, chat_id, message, status, \
                 attempts, send_until, superseded, created_at, finished_at) \
                 VALUES ('sch-{id}', $1, 'i1', '42', 'hi', 'sent', 1, $1, 0, $1, $1)"
            ),
            &[at],
        )
        .await;
    }
    for (version, at) in [(1, old), (2, new)] {
        run(
            pool,
            "INSERT INTO status_history (instance_id, version, status, previous_status, reason, source, at) \
             VALUES ('i1', $1, 'running', NULL, NULL, 'health', $2)",
            &[version, at],
        )
        .await;
        run(
            pool,
            "INSERT INTO instance_errors (instance_id, version, message, source, at) \
             VALUES ('i1', $1, 'boom', 'worker', $2)",
            &[version, at],
        )
        .await;
    }
    // Old but never forgotten: a delivery still pending and an alert still active.
    run(
        pool,
        "INSERT INTO webhook_deliveries (id, instance_id, event_type, payload, status, attempts, \
         next_attempt_at, created_at, finished_at) \
         VALUES ('d-pending', 'i1', 'message.in', '{}', 'pending', 3, $1, $1, NULL)",
        &[old],
    )
    .await;
    run(
        pool,
        "INSERT INTO alerts (id, threshold_id, target, metric_type, value, threshold_value, status, \
         message, fired_at, resolved_at) \
         VALUES ('a-active', 't1', 'host', 'cpu', 95.0, 90.0, 'active', 'cpu high', $1, NULL)",
        &[old],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_past_their_retention_are_forgotten_and_the_rest_kept() {
    let (_tg, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    // The first start makes the schema; the rows go in while it is stopped.
    let mut m = Manager::spawn(options.clone());
    m.stop();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&options.database_url).await.unwrap();
    let now = now_ms();
    seed(&pool, now - 40 * DAY, now - DAY).await;
    let before = counts(&pool).await;
    assert!(before.iter().all(|(_, n)| *n >= 2), "{before:?}");

    // 30 days for every kind, a sweep every second.
    options.env.extend(
        [
            "BOTFLEET_RETAIN_EVENTS_DAYS",
            "BOTFLEET_RETAIN_MESSAGES_DAYS",
            "BOTFLEET_RETAIN_DELIVERIES_DAYS",
            "BOTFLEET_RETAIN_HISTORY_DAYS",
        ]
        .map(|k| (k.to_string(), "30".to_string())),
    );
    options
        .env
        .push(("BOTFLEET_RETENTION_INTERVAL_SECS".into(), "1".into()));
    let m = Manager::spawn(options);
    let expected: Vec<(&str, i64)> = vec![
        ("events", 1),
        ("messages", 1),
        // The recent one and the pending one.
        ("webhook_deliveries", 2),
        ("status_history", 1),
        ("instance_errors", 1),
        ("settings_history", 1),
        ("schedule_runs", 1),
        // The recent one and the active one.
        ("alerts", 2),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        // The manager's own rows (its start events, a status sample) come and go meanwhile: only the
        // seeded ones are counted.
        let seeded = counts_of_seeded(&pool).await;
        if seeded == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after the sweep: {seeded:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // What is kept is what should be: the recent rows, the pending delivery, the active alert.
    let kept: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE instance_id = 'i1' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept, ["d-e-new", "d-pending"]);
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT id FROM alerts WHERE threshold_id = 't1' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(kept, ["a-active", "a-e-new"]);
    let metrics = m.get_text("/metrics").await;
    assert!(
        metrics.contains("botfleet_retention_deleted_rows_total{table=\"events\"} 1"),
        "{metrics}"
    );
}

/// The seeded rows left, by table (the manager's own rows are about other instances and thresholds).
async fn counts_of_seeded(pool: &sqlx::AnyPool) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for (table, filter) in [
        ("events", "instance_id = 'i1'"),
        ("messages", "instance_id = 'i1'"),
        ("webhook_deliveries", "instance_id = 'i1'"),
        ("status_history", "instance_id = 'i1'"),
        ("instance_errors", "instance_id = 'i1'"),
        ("settings_history", "instance_id = 'i1'"),
        ("schedule_runs", "instance_id = 'i1'"),
        ("alerts", "threshold_id = 't1'"),
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE {filter}"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((table, n));
    }
    out
}
