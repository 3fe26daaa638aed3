//! A manager whose engine goes away (socket gone) keeps serving reads from its cache, refuses writes
//! with 503 and a clear message, and reconciles when the engine is back: every bot runs again, nothing
//! is lost. The engine's socket is cut through a proxy (`docker_proxy`), so the engine itself and the
//! other tests running beside this one are not disturbed; `scripts/bench-engine-restart` restarts the
//! real daemon instead.

use std::time::Duration;

use botfleet_tests::{
    docker_proxy::DockerProxy,
    harness::{self, Created, Manager, ManagerOptions, create_body},
};
use serde_json::{Value, json};

const SETTLE: Duration = Duration::from_secs(60);

fn running(i: &Value) -> bool {
    i["status"] == "running"
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_engine_turns_writes_off_and_the_fleet_is_reconciled_when_it_is_back() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let mut proxy = DockerProxy::start();
    let mut options = ManagerOptions::new(&tg_url).await;
    options
        .env
        .push(("BOTFLEET_DOCKER_HOST".into(), proxy.url()));
    let m = Manager::spawn(options);
    let a = Created::from_body(
        &m.create_settled("outage", &fake.add_bot(9_100_001, "a_bot"))
            .await,
    );
    let b_token = fake.add_bot(9_100_002, "b_bot");
    let b = Created::from_body(&m.create_settled("outage", &b_token).await);
    for id in [&a.id, &b.id] {
        m.wait_for(id, SETTLE, running).await;
    }

    proxy.cut();
    // A write is refused with 503 and says why.
    let (status, err) = m
        .post(&format!("/api/v1/instances/{}/restart", a.id), &json!({}))
        .await;
    assert_eq!(status, 503, "{err}");
    assert_eq!(err["code"], "runtime_unavailable", "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("unreachable"),
        "{err}"
    );
    let (status, err) = m
        .post(
            "/api/v1/instances",
            &create_body("outage", &fake.add_bot(9_100_003, "c_bot")),
        )
        .await;
    assert_eq!(status, 503, "{err}");
    let (status, err) = m.delete(&format!("/api/v1/instances/{}", b.id)).await;
    assert_eq!(status, 503, "{err}");
    // The manager says so, and reads come from the cache.
    let (status, health) = m.get("/health").await;
    assert_eq!(
        (status, health["engine"].as_str()),
        (200, Some("unreachable")),
        "{health}"
    );
    let (status, list) = m.get("/api/v1/instances").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    let (status, one) = m.get(&format!("/api/v1/instances/{}", a.id)).await;
    assert_eq!(status, 200, "{one}");
    // Meanwhile one bot dies, where the manager cannot see it.
    let victim = m
        .containers()
        .into_iter()
        .find(|name| name.ends_with(&b.id))
        .expect("b's container");
    harness::docker(&["kill", &victim]);

    proxy.resume();
    // Writes work again once the engine answers, and the fleet is made whole: the dead bot restarted.
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (status, body) = m
            .post(
                "/api/v1/instances",
                &create_body("outage", &fake.add_bot(9_100_004, "d_bot")),
            )
            .await;
        if status == 201 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The bot that died while the engine was away is noticed (the engine's events since the cut) and
    // restarted.
    m.wait_for(&b.id, SETTLE, |i| {
        running(i)
            && i["memory_data"]["system_info"]["restart_count"].as_i64() >= Some(1)
            && i["containers"][0]["running"] == true
    })
    .await;
    m.wait_for(&a.id, SETTLE, running).await;
    let (_, list) = m.get("/api/v1/instances").await;
    assert_eq!(list["total"], 3, "nothing lost, nothing doubled: {list}");
    fake.assert_one_consumer(&b_token, Duration::from_secs(3))
        .await;
}
