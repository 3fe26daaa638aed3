//! `GET /api/v1/instances` over a fleet of seeded rows: filters by status, provider, owner and text,
//! every sort in both directions, pages, and a 422 naming each bad parameter.

use botfleet_tests::{
    harness::{self, Manager, ManagerOptions},
    seed::{self, SeedRow},
};
use serde_json::{Value, json};

const FIRST_PORT: u16 = 45_000;
const N: usize = 130;

fn ids(list: &Value) -> Vec<String> {
    list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn patch(m: &Manager, id: &str, body: Value) -> (u16, Value) {
    harness::send(
        m.request(reqwest::Method::PATCH, &format!("/api/v1/instances/{id}"))
            .json(&body),
    )
    .await
}

fn field(list: &Value, name: &str) -> Vec<Value> {
    list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[name].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_filters_sorts_and_pages_over_the_whole_fleet() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.ports = (FIRST_PORT, FIRST_PORT + 999);
    // The first start makes the schema; the rows go in while it is stopped.
    let mut m = Manager::spawn(options.clone());
    m.stop();
    let rows = (0..N).map(|i| SeedRow {
        owner: if i % 3 == 0 { "ann" } else { "bob" }.into(),
        display_name: if i % 25 == 7 {
            format!("Alpha-{i:03}")
        } else {
            format!("bot-{i:03}")
        },
        // (A seeded `failed` would not stay: with no container and `stopped` desired, reconcile makes it
        // `stopped`.)
        status: "stopped",
    });
    let seeded = seed::instances(&options.database_url, FIRST_PORT, rows)
        .await
        .unwrap();
    let m = Manager::spawn(options);

    // Oldest first, in pages.
    let (status, first) = m.get("/api/v1/instances?limit=50").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["total"].as_u64(), first["count"].as_u64()),
        (Some(130), Some(50))
    );
    assert_eq!(ids(&first), seeded[..50]);
    let (_, last) = m.get("/api/v1/instances?limit=50&offset=100").await;
    assert_eq!(ids(&last), seeded[100..]);
    let (_, all) = m.get("/api/v1/instances").await;
    assert_eq!(ids(&all), seeded);

    // Filters, alone and together; `total` counts the matches.
    let (_, stopped) = m.get("/api/v1/instances?status=stopped&limit=1").await;
    assert_eq!(stopped["total"], 130);
    let (_, running) = m.get("/api/v1/instances?status=running").await;
    assert_eq!(running["total"], 0);
    let (_, ann) = m.get("/api/v1/instances?owner=ann&limit=5").await;
    assert_eq!(
        (ann["total"].as_u64(), ann["count"].as_u64()),
        (Some(44), Some(5))
    );
    assert!(field(&ann, "user_id").iter().all(|u| u == "ann"));
    let (_, both) = m
        .get("/api/v1/instances?owner=ann&q=alpha&status=stopped")
        .await;
    // i % 3 == 0 and i % 25 == 7: 57 and 132 (past the fleet).
    assert_eq!(field(&both, "display_name"), ["Alpha-057"]);
    let (_, alpha) = m.get("/api/v1/instances?q=ALPHA").await;
    let names: Vec<Value> = field(&alpha, "display_name");
    assert_eq!(
        names,
        [
            "Alpha-007",
            "Alpha-032",
            "Alpha-057",
            "Alpha-082",
            "Alpha-107"
        ]
    );
    let (_, by_id) = m
        .get(&format!("/api/v1/instances?q={}", &seeded[42][..13]))
        .await;
    assert_eq!(ids(&by_id), [seeded[42].clone()]);
    let (_, telegram) = m.get("/api/v1/instances?provider=telegram&limit=1").await;
    assert_eq!(telegram["total"], 130);
    let (_, discord) = m.get("/api/v1/instances?provider=discord").await;
    assert_eq!(discord["total"], 0);

    // Labels: set whole by a PATCH, shown, filtered on (`key=value`, or `key` for any value).
    for (i, labels) in [
        (3, json!({"team": "support", "env": "prod"})),
        (4, json!({"team": "sales"})),
        (5, json!({"team": "support"})),
    ] {
        let (status, body) = patch(&m, &seeded[i], json!({"labels": labels})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["instance"]["labels"], labels, "{body}");
    }
    let (_, support) = m.get("/api/v1/instances?label=team=support").await;
    assert_eq!(ids(&support), [seeded[3].clone(), seeded[5].clone()]);
    let (_, teams) = m.get("/api/v1/instances?label=team").await;
    assert_eq!(teams["total"], 3);
    let (_, prod) = m.get("/api/v1/instances?label=env=prod&owner=ann").await;
    // seeded[3] is ann's (3 % 3 == 0).
    assert_eq!(ids(&prod), [seeded[3].clone()]);
    let (status, body) = patch(&m, &seeded[5], json!({"labels": {}})).await;
    assert_eq!(
        (status, &body["instance"]["labels"]),
        (200, &json!({})),
        "{body}"
    );
    let (_, support) = m.get("/api/v1/instances?label=team=support").await;
    assert_eq!(ids(&support), [seeded[3].clone()]);
    // Labels that break the rules are refused, naming them.
    for bad in [
        json!({"Team": "x"}),
        json!({"-team": "x"}),
        json!({"team": "x\u{7}"}),
        json!({"t": "x".repeat(256)}),
        json!(
            (0..33)
                .map(|i| (format!("k{i}"), json!("v")))
                .collect::<serde_json::Map<_, _>>()
        ),
    ] {
        let (status, body) = patch(&m, &seeded[6], json!({"labels": bad})).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("labels")),
            "{bad}: {body}"
        );
    }

    // Sorts, both ways.
    let (_, newest) = m.get("/api/v1/instances?order=desc&limit=3").await;
    assert_eq!(
        ids(&newest),
        [
            seeded[129].clone(),
            seeded[128].clone(),
            seeded[127].clone()
        ]
    );
    let (_, by_name) = m.get("/api/v1/instances?sort=name&limit=2").await;
    assert_eq!(field(&by_name, "display_name"), ["Alpha-007", "Alpha-032"]);
    let (_, by_name) = m
        .get("/api/v1/instances?sort=name&order=desc&limit=1")
        .await;
    assert_eq!(field(&by_name, "display_name"), ["bot-129"]);
    let (_, by_port) = m
        .get("/api/v1/instances?sort=port&order=desc&limit=2")
        .await;
    assert_eq!(
        field(&by_port, "port_api"),
        [u64::from(FIRST_PORT) + 129, u64::from(FIRST_PORT) + 128]
    );
    let (_, by_owner) = m
        .get("/api/v1/instances?sort=owner&order=desc&limit=86")
        .await;
    assert!(field(&by_owner, "user_id").iter().all(|u| u == "bob"));
    for sort in [
        "created", "name", "status", "provider", "owner", "port", "restarts", "messages", "cpu",
        "memory",
    ] {
        for order in ["asc", "desc"] {
            let (status, page) = m
                .get(&format!(
                    "/api/v1/instances?sort={sort}&order={order}&limit=100"
                ))
                .await;
            assert_eq!(status, 200, "{sort} {order}: {page}");
            assert_eq!(page["count"], 100, "{sort} {order}");
        }
    }

    // A bad parameter is a 422 naming it.
    for (query, name) in [
        ("sort=weird", "sort"),
        ("order=up", "order"),
        ("status=sleeping", "status"),
        ("provider=icq", "provider"),
        ("limit=0", "limit"),
        ("owner=", "owner"),
        ("label=Bad Key", "label"),
        ("nope=1", "nope"),
    ] {
        let (status, body) = m.get(&format!("/api/v1/instances?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["field"], name, "{query}: {body}");
    }
    let long = "x".repeat(101);
    let (status, body) = m.get(&format!("/api/v1/instances?q={long}")).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("q")), "{body}");

    // A bot created with labels carries them from the start.
    let mut body = harness::create_body("carol", &tg.add_bot(4_500_001, "labelled_bot"));
    body["labels"] = json!({"created": "with-labels"});
    let (status, created) = m.post("/api/v1/instances", &body).await;
    assert_eq!(status, 201, "{created}");
    let (_, found) = m.get("/api/v1/instances?label=created=with-labels").await;
    assert_eq!(
        ids(&found),
        [created["instance_id"].as_str().unwrap().to_string()]
    );
    assert_eq!(
        found["instances"][0]["labels"],
        json!({"created": "with-labels"})
    );
    body["labels"] = json!({"Bad": "x"});
    let (status, refused) = m.post("/api/v1/instances", &body).await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (422, Some("labels")),
        "{refused}"
    );
}
