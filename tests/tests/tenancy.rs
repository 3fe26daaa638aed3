//! Users, keys and tenants, end to end against the real manager binary: every route with every kind of
//! caller (the matrix), ownership (another user's bot is 404, lists and streams are filtered), key
//! revocation and expiry, logout, request-rate limits (429 + `Retry-After`), login throttling, quotas
//! and the audit log.

use std::time::Duration;

use botfleet_tests::harness::{self, Manager, ManagerOptions, send};
use reqwest::Method;
use serde_json::{Value, json};

/// One way of calling the manager.
#[derive(Debug, Clone)]
struct Caller {
    name: &'static str,
    bearer: Option<String>,
}

impl Caller {
    fn new(name: &'static str, bearer: &str) -> Self {
        Self {
            name,
            bearer: Some(bearer.to_string()),
        }
    }

    fn request(&self, m: &Manager, method: Method, path: &str) -> reqwest::RequestBuilder {
        let r = m.client.request(method, m.url(path));
        match &self.bearer {
            Some(b) => r.bearer_auth(b),
            None => r,
        }
    }

    async fn get(&self, m: &Manager, path: &str) -> (u16, Value) {
        send(self.request(m, Method::GET, path)).await
    }

    async fn post(&self, m: &Manager, path: &str, body: &Value) -> (u16, Value) {
        send(self.request(m, Method::POST, path).json(body)).await
    }
}

/// Creates a user as the bootstrap admin; returns its id.
async fn add_user(m: &Manager, username: &str, role: &str, extra: Value) -> String {
    let mut body =
        json!({"username": username, "password": format!("{username}-password"), "role": role});
    if let Value::Object(more) = extra {
        body.as_object_mut().unwrap().extend(more);
    }
    let (status, user) = m.post("/api/v1/users", &body).await;
    assert_eq!(status, 201, "{user}");
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    user["id"].as_str().unwrap().to_string()
}

async fn login(m: &Manager, username: &str) -> String {
    login_with(m, username, &format!("{username}-password")).await
}

async fn login_with(m: &Manager, username: &str, password: &str) -> String {
    let anyone = Caller {
        name: "anyone",
        bearer: None,
    };
    let (status, session) = anyone
        .post(
            m,
            "/api/v1/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["token_type"], "bearer");
    assert!(session["expires_in"].as_u64().unwrap() > 0);
    session["access_token"].as_str().unwrap().to_string()
}

/// Mints a key as `who`; returns (key, key id).
async fn mint(m: &Manager, who: &Caller, body: Value) -> (String, String) {
    let (status, key) = who.post(m, "/api/v1/api-keys", &body).await;
    assert_eq!(status, 201, "{key}");
    (
        key["key"].as_str().unwrap().to_string(),
        key["id"].as_str().unwrap().to_string(),
    )
}

/// Creates a bot as `who` (no wait); returns its id.
async fn create_bot(m: &Manager, who: &Caller, token: &str) -> String {
    let (status, body) = who
        .post(
            m,
            "/api/v1/instances?wait=true&timeout=30",
            &json!({"provider": "telegram", "token": token}),
        )
        .await;
    assert_eq!(status, 201, "{who:?}: {body}");
    body["instance_id"].as_str().unwrap().to_string()
}

/// What a caller kind may do, as the README states it (written apart from the manager's policy table,
/// so a slip in either shows).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Anonymous,
    Admin,
    Operator,
    /// The bot's owner with every scope (a session or a full key).
    Owner,
    OwnerReadOnly,
    /// The owner's key bound to the bot.
    OwnerBound,
    /// Another user.
    Stranger,
}

/// What a route is, for the expectation.
fn expected(kind: Kind, method: &str, path: &str) -> Expect {
    use Expect::*;
    let get = method == "get";
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    let instance_route = rest.starts_with("/instances/{id}");
    let self_service = matches!(
        rest,
        "/users/me" | "/api-keys" | "/api-keys/me" | "/api-keys/{id}"
    );
    let admin_only = rest.starts_with("/users")
        || rest == "/audit"
        || (rest.starts_with("/resources") && !get)
        || (rest == "/alerts/thresholds" && !get)
        || rest == "/alerts/thresholds/{id}";
    // Templates (read: anyone; write: `settings`, on one's own) and setup from one (a create, `control`):
    // every user's, within their scopes; another user's template is the handler's 404, past the gate.
    let templates = rest.starts_with("/templates") || rest == "/instances/setup";
    // The CPU and memory of one's own bots: anyone's, filtered.
    let operator_area = rest.starts_with("/hosts")
        || (rest.starts_with("/resources") && rest != "/resources/instances")
        || rest == "/instances/memory/stats"
        || rest == "/alerts/thresholds"
        || rest == "/health/history"
        || rest == "/alerts/{id}/resolve";
    match kind {
        Kind::Anonymous => Unauthorized,
        Kind::Admin => Allowed,
        _ if self_service => Allowed,
        Kind::Operator if instance_route => {
            if get {
                Allowed
            } else {
                Forbidden
            }
        }
        Kind::Operator if admin_only => Forbidden,
        Kind::Operator => Allowed,
        Kind::Stranger if instance_route => NotFound,
        Kind::OwnerBound if !instance_route => Forbidden,
        _ if templates && (get || kind != Kind::OwnerReadOnly) => Allowed,
        _ if admin_only || operator_area => Forbidden,
        Kind::OwnerReadOnly if !get => Forbidden,
        _ => Allowed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Unauthorized,
    Forbidden,
    NotFound,
    /// Past the gate: whatever the handler says, but not 401/403, and not 404 for the bot.
    Allowed,
}

/// Every guarded operation of the manager's document: (method, path pattern, has a body).
async fn guarded_operations(m: &Manager) -> Vec<(String, String, bool)> {
    let (status, doc) = send(m.client.get(m.url("/openapi.json"))).await;
    assert_eq!(status, 200);
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // `[{}]` is "no credential needed" (the platform callbacks, checked by signature).
            let secured = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            });
            if !secured || path == "/api/v1/auth/logout" {
                continue;
            }
            ops.push((
                method.clone(),
                path.clone(),
                op.get("requestBody").is_some(),
            ));
        }
    }
    assert!(ops.len() > 60, "only {} guarded operations", ops.len());
    ops
}

/// Fills a path pattern: `{id}` of instance routes with `bot` (or, when the call would change
/// something, an id that names nothing), other parameters with a placeholder.
fn fill(path: &str, bot: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        let name = &rest[open + 1..close];
        out.push_str(
            if name == "id" && path.starts_with("/api/v1/instances/{id}") {
                bot
            } else {
                "matrix-nothing"
            },
        );
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_each_kind_of_caller_as_its_role_allows() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let bootstrap = Caller::new("bootstrap", &m.options.admin_key);
    add_user(&m, "ann", "user", json!({})).await;
    add_user(&m, "bob", "user", json!({})).await;
    add_user(&m, "olga", "operator", json!({})).await;
    let ann = Caller::new("ann session", &login(&m, "ann").await);
    let bob = Caller::new("bob session", &login(&m, "bob").await);
    let olga = Caller::new("olga session", &login(&m, "olga").await);
    let bot = create_bot(&m, &ann, &fake.add_bot(7_400_001, "matrix_bot")).await;

    let all = json!(["read", "send", "control", "settings"]);
    let (ann_full, _) = mint(&m, &ann, json!({"name": "full", "scopes": all})).await;
    let (ann_read, _) = mint(&m, &ann, json!({"name": "ro", "scopes": ["read"]})).await;
    let (ann_bound, _) = mint(
        &m,
        &ann,
        json!({"name": "bound", "scopes": all, "instance_id": bot}),
    )
    .await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let (ann_expiring, _) = mint(
        &m,
        &ann,
        json!({"name": "expiring", "scopes": all,
               "expires_at": soon.format(&time::format_description::well_known::Rfc3339).unwrap()}),
    )
    .await;
    let (ann_revoked, revoked_id) = mint(&m, &ann, json!({"name": "gone", "scopes": all})).await;
    let (bob_key, _) = mint(&m, &bob, json!({"name": "bob", "scopes": all})).await;
    let (olga_key, _) = mint(&m, &olga, json!({"name": "olga", "scopes": all})).await;
    let (admin_key, _) = mint(
        &m,
        &bootstrap,
        json!({"name": "admin", "scopes": ["read", "send", "control", "settings", "admin"]}),
    )
    .await;
    // Revoked: refused from the very next request.
    let (status, _) = Caller::new("ann revoked", &ann_revoked)
        .get(&m, "/api/v1/users/me")
        .await;
    assert_eq!(status, 200);
    let (status, body) = send(ann.request(
        &m,
        Method::DELETE,
        &format!("/api/v1/api-keys/{revoked_id}"),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let callers = [
        (
            Caller {
                name: "no key",
                bearer: None,
            },
            Kind::Anonymous,
        ),
        (Caller::new("wrong key", "bfu_0000"), Kind::Anonymous),
        (
            Caller::new("a forged session", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.x"),
            Kind::Anonymous,
        ),
        (Caller::new("expired key", &ann_expiring), Kind::Anonymous),
        (Caller::new("revoked key", &ann_revoked), Kind::Anonymous),
        (
            Caller::new("owner's read-only key", &ann_read),
            Kind::OwnerReadOnly,
        ),
        (
            Caller::new("owner's bound key", &ann_bound),
            Kind::OwnerBound,
        ),
        (Caller::new("another user's key", &bob_key), Kind::Stranger),
        (bob.clone(), Kind::Stranger),
        (Caller::new("operator key", &olga_key), Kind::Operator),
        (olga.clone(), Kind::Operator),
        (ann.clone(), Kind::Owner),
        (Caller::new("owner's key", &ann_full), Kind::Owner),
        (Caller::new("minted admin key", &admin_key), Kind::Admin),
        (bootstrap.clone(), Kind::Admin),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, has_body) in guarded_operations(&m).await {
        for (caller, kind) in &callers {
            let expect = expected(*kind, &method, &path);
            // An allowed call that would change something gets a body the handler refuses (422), or
            // an id that names nothing (404): the gate is what is under test, and the bot must live on.
            let changes = method != "get";
            let target = if expect == Expect::Allowed && changes && !has_body {
                "no-such-bot"
            } else {
                &bot
            };
            let url = fill(&path, target);
            let mut request = caller.request(
                &m,
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                &url,
            );
            if has_body {
                request = request.json(&json!({"matrix_unknown_field": true}));
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            // A live stream is never read to its end; an error is read for its words.
            let error = if status == 404 {
                response.text().await.unwrap_or_default()
            } else {
                String::new()
            };
            checked += 1;
            let ok = match expect {
                Expect::Unauthorized => status == 401,
                Expect::Forbidden => status == 403,
                Expect::NotFound => status == 404,
                Expect::Allowed => {
                    // A 404 about the bot itself would be the gate hiding it.
                    let hidden = status == 404
                        && target == bot
                        && error.contains(&format!("instance {bot} not found"));
                    status != 401 && status != 403 && status != 429 && !hidden
                }
            };
            if !ok {
                failures.push(format!(
                    "{method} {url} as {}: {status}, expected {expect:?}",
                    caller.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} calls answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The bot lived through the matrix.
    let (status, _) = ann.get(&m, &format!("/api/v1/instances/{bot}")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_see_only_their_own_bots_everywhere() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let bootstrap = Caller::new("bootstrap", &m.options.admin_key);
    let ann_id = add_user(&m, "ann", "user", json!({})).await;
    let bob_id = add_user(&m, "bob", "user", json!({})).await;
    add_user(&m, "olga", "operator", json!({})).await;
    let ann = Caller::new("ann", &login(&m, "ann").await);
    let bob = Caller::new("bob", &login(&m, "bob").await);
    let olga = Caller::new("olga", &login(&m, "olga").await);

    let ann_bot = create_bot(&m, &ann, &fake.add_bot(7_400_101, "ann_bot")).await;
    // An admin creates a bot for bob; bob may not create one for ann.
    let (status, body) = bootstrap
        .post(
            &m,
            "/api/v1/instances?wait=true&timeout=30",
            &json!({"provider": "telegram", "user_id": bob_id, "token": fake.add_bot(7_400_102, "bob_bot")}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let bob_bot = body["instance_id"].as_str().unwrap().to_string();
    let (status, body) = bob
        .post(
            &m,
            "/api/v1/instances",
            &json!({"provider": "telegram", "user_id": ann_id, "token": fake.add_bot(7_400_103, "x_bot")}),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    let ids = |list: &Value| -> Vec<String> {
        list["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, list) = ann.get(&m, "/api/v1/instances").await;
    assert_eq!(ids(&list), vec![ann_bot.clone()]);
    assert_eq!(list["total"], 1);
    assert_eq!(list["instances"][0]["user_id"], ann_id.as_str());
    let (_, list) = bob.get(&m, "/api/v1/instances").await;
    assert_eq!(ids(&list), vec![bob_bot.clone()]);
    let (_, list) = olga.get(&m, "/api/v1/instances").await;
    assert_eq!(ids(&list).len(), 2);

    // Another user's bot does not exist for bob: the same 404 as an id that names nothing.
    let (status, theirs) = bob.get(&m, &format!("/api/v1/instances/{ann_bot}")).await;
    assert_eq!(status, 404);
    let (_, nothing) = bob.get(&m, "/api/v1/instances/no-such-id").await;
    assert_eq!(theirs["code"], nothing["code"]);
    let (status, _) = bob
        .post(&m, &format!("/api/v1/instances/{ann_bot}/stop"), &json!({}))
        .await;
    assert_eq!(status, 404);
    // Operators read every bot and change none.
    let (status, _) = olga.get(&m, &format!("/api/v1/instances/{ann_bot}")).await;
    assert_eq!(status, 200);
    let (status, body) = olga
        .post(&m, &format!("/api/v1/instances/{ann_bot}/stop"), &json!({}))
        .await;
    assert_eq!(status, 403, "{body}");

    // So are the CPU and memory figures: once a sample holds both bots, ann's list holds hers.
    let sampled = |list: &Value| -> Vec<String> {
        list["instances"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|i| i["instance_id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sampled(&olga.get(&m, "/api/v1/resources/instances").await.1).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no sample of both bots"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let (status, usage) = ann.get(&m, "/api/v1/resources/instances").await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(sampled(&usage), vec![ann_bot.clone()], "{usage}");
    assert_eq!(usage["total"], 1);

    // Events and metrics are filtered the same way.
    let events_of = |list: &Value| -> Vec<String> {
        list["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["instance_id"].as_str().map(str::to_string))
            .collect()
    };
    let (_, events) = ann.get(&m, "/api/v1/events").await;
    let seen = events_of(&events);
    assert!(seen.contains(&ann_bot), "{events}");
    assert!(seen.iter().all(|id| *id == ann_bot), "{events}");
    let (_, events) = ann
        .get(&m, &format!("/api/v1/events?instance_id={bob_bot}"))
        .await;
    assert!(events_of(&events).is_empty(), "{events}");
    let (_, events) = olga.get(&m, "/api/v1/events").await;
    assert!(events_of(&events).contains(&bob_bot));

    // The live stream: ann's first event is about her bot even when bob's bot acts first.
    let stream = ann
        .request(&m, Method::GET, "/api/v1/events/stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (status, _) = bob
        .post(
            &m,
            &format!("/api/v1/instances/{bob_bot}/restart"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = ann
        .post(
            &m,
            &format!("/api/v1/instances/{ann_bot}/restart"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let mut stream = stream;
    let mut text = String::new();
    let first_data = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let chunk = stream.chunk().await.unwrap().expect("stream open");
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = text.lines().find(|l| l.starts_with("data:")) {
                return line.to_string();
            }
        }
    })
    .await
    .expect("an event within 30 s");
    assert!(first_data.contains(&ann_bot), "{first_data}");
    assert!(!text.contains(&bob_bot), "{text}");

    let metrics = |who: &Caller| {
        let r = who.request(&m, Method::GET, "/metrics");
        async move { r.send().await.unwrap().text().await.unwrap() }
    };
    // The per-bot series appear once each bot has been seen by a health check.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = metrics(&olga).await;
        if all.contains(&ann_bot) && all.contains(&bob_bot) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no per-bot series:\n{all}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mine = metrics(&ann).await;
    assert!(mine.contains(&ann_bot), "{mine}");
    assert!(!mine.contains(&bob_bot), "{mine}");
    assert!(!mine.contains("host_"), "users get no host series:\n{mine}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_at_logout_password_change_and_disable() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    // More logins than the default five a minute.
    options
        .env
        .push(("BOTFLEET_LOGIN_ATTEMPTS_PER_MINUTE".into(), "50".into()));
    let m = Manager::spawn(options);
    let ann_id = add_user(&m, "ann", "user", json!({})).await;
    let anyone = Caller {
        name: "anyone",
        bearer: None,
    };

    // Logout ends exactly that session.
    let one = Caller::new("one", &login(&m, "ann").await);
    let two = Caller::new("two", &login(&m, "ann").await);
    let (status, me) = one.get(&m, "/api/v1/users/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "user");
    assert_eq!(me["credential"], "session");
    let (status, _) = one.post(&m, "/api/v1/auth/logout", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(one.get(&m, "/api/v1/users/me").await.0, 401);
    assert_eq!(two.get(&m, "/api/v1/users/me").await.0, 200);
    // A key cannot log out (it is revoked instead).
    let (key, _) = mint(&m, &two, json!({"name": "k", "scopes": ["read"]})).await;
    let (status, _) = Caller::new("key", &key)
        .post(&m, "/api/v1/auth/logout", &json!({}))
        .await;
    assert_eq!(status, 400);

    // A new password ends every session; the old password stops working.
    let (status, _) = send(
        m.request(Method::PATCH, &format!("/api/v1/users/{ann_id}"))
            .json(&json!({"password": "a brand new password"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(two.get(&m, "/api/v1/users/me").await.0, 401);
    let (status, _) = anyone
        .post(
            &m,
            "/api/v1/auth/login",
            &json!({"username": "ann", "password": "ann-password"}),
        )
        .await;
    assert_eq!(status, 401);
    let (status, fresh) = anyone
        .post(
            &m,
            "/api/v1/auth/login",
            &json!({"username": "ann", "password": "a brand new password"}),
        )
        .await;
    assert_eq!(status, 200);
    let three = Caller::new("three", fresh["access_token"].as_str().unwrap());
    assert_eq!(three.get(&m, "/api/v1/users/me").await.0, 200);

    // Disabled: sessions and keys stop, and login is refused.
    let (status, _) = send(
        m.request(Method::PATCH, &format!("/api/v1/users/{ann_id}"))
            .json(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(three.get(&m, "/api/v1/users/me").await.0, 401);
    assert_eq!(
        Caller::new("key", &key).get(&m, "/api/v1/users/me").await.0,
        401
    );

    // Sessions survive a restart of the manager (the signing key is kept), logouts too.
    let (status, _) = send(
        m.request(Method::PATCH, &format!("/api/v1/users/{ann_id}"))
            .json(&json!({"disabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    let kept = Caller::new("kept", &login_with(&m, "ann", "a brand new password").await);
    let out = Caller::new("out", &login_with(&m, "ann", "a brand new password").await);
    let (status, _) = out.post(&m, "/api/v1/auth/logout", &json!({})).await;
    assert_eq!(status, 200);
    let mut m = m;
    m.stop();
    let m = Manager::spawn(m.options.clone());
    assert_eq!(kept.get(&m, "/api/v1/users/me").await.0, 200);
    assert_eq!(out.get(&m, "/api/v1/users/me").await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_from_one_key_is_limited_with_retry_after() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    // The manager's default limits.
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    add_user(&m, "ann", "user", json!({})).await;
    let ann = Caller::new("ann", &login(&m, "ann").await);
    let (key, _) = mint(&m, &ann, json!({"name": "burst", "scopes": ["read"]})).await;
    let burst = Caller::new("burst", &key);

    let started = std::time::Instant::now();
    let statuses: Vec<(u16, Option<u64>)> = futures::future::join_all((0..1500).map(|_| {
        let request = burst.request(&m, Method::GET, "/api/v1/users/me");
        async move {
            let r = request.send().await.unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok());
            (r.status().as_u16(), retry)
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    eprintln!(
        "1500 requests in {elapsed:.2?}: {ok} answered, {} limited",
        limited.len()
    );
    assert_eq!(ok + limited.len(), 1500, "only 200 and 429 expected");
    assert!(!limited.is_empty(), "a burst of 1500 was not limited");
    assert!(
        limited
            .iter()
            .all(|(_, retry)| retry.is_some_and(|s| s >= 1))
    );
    let (_, me) = ann.get(&m, "/api/v1/users/me").await;
    let (rate, burst_size) = (
        me["rate_limit_per_key"]["per_second"].as_u64().unwrap() as f64,
        me["rate_limit_per_key"]["burst"].as_u64().unwrap() as f64,
    );
    assert!(
        (ok as f64) <= burst_size + rate * (elapsed.as_secs_f64() + 1.0),
        "{ok} answered beyond a burst of {burst_size} and {rate}/s"
    );
    // The limit is per key: the same user's session still gets through, and so does the key after
    // waiting.
    assert_eq!(ann.get(&m, "/api/v1/users/me").await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(burst.get(&m, "/api/v1/users/me").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_per_user_limit_counts_all_of_a_users_keys() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.env.extend([
        ("BOTFLEET_RATE_LIMIT_PER_USER".into(), "1".into()),
        ("BOTFLEET_RATE_LIMIT_USER_BURST".into(), "20".into()),
    ]);
    let m = Manager::spawn(options);
    add_user(&m, "ann", "user", json!({})).await;
    let ann = Caller::new("ann", &login(&m, "ann").await);
    let (k1, _) = mint(&m, &ann, json!({"name": "a", "scopes": ["read"]})).await;
    let (k2, _) = mint(&m, &ann, json!({"name": "b", "scopes": ["read"]})).await;
    let mut answered = 0;
    let mut limited = 0;
    for i in 0..40 {
        let key = if i % 2 == 0 { &k1 } else { &k2 };
        match Caller::new("k", key).get(&m, "/api/v1/users/me").await.0 {
            200 => answered += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        limited > 0 && answered <= 24,
        "{answered} answered, {limited} limited"
    );
    let (_, me) = m.get("/api/v1/users/me").await;
    assert_eq!(me["credential"], "bootstrap_key");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_dashboard_page_counts_once_against_the_callers_rate() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    options.env.extend([
        ("BOTFLEET_RATE_LIMIT_PER_USER".into(), "1".into()),
        ("BOTFLEET_RATE_LIMIT_USER_BURST".into(), "10".into()),
    ]);
    let m = Manager::spawn(options);
    add_user(&m, "ann", "user", json!({})).await;
    let session = login(&m, "ann").await;
    let page = || {
        m.client
            .get(m.url("/ui/bots"))
            .header("cookie", format!("botfleet_session={session}"))
            .send()
    };
    // A page makes several API calls in process (the list, each row's figures): the first pages are
    // answered, each counted once; then the caller is told to slow down, with when to try again.
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let answer = page().await.unwrap();
        if answer.status() == 429 {
            let retry = answer.headers().get("retry-after").cloned();
            assert!(retry.is_some(), "a 429 says when to retry");
        }
        statuses.push(answer.status().as_u16());
    }
    // The burst of 10, and one more a second (counted once each, the pages' API calls not at all).
    let refilled = started.elapsed().as_secs() as usize + 1;
    let answered = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        (10..=10 + refilled).contains(&answered) && statuses.contains(&429),
        "{answered} answered in {refilled} s: {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_brute_force_is_throttled_per_user_and_per_address() {
    let (_fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    add_user(&m, "ann", "user", json!({})).await;
    let anyone = Caller {
        name: "anyone",
        bearer: None,
    };
    let attempt = |username: &str, password: &str| {
        send(
            anyone
                .request(&m, Method::POST, "/api/v1/auth/login")
                .json(&json!({"username": username, "password": password})),
        )
    };
    // A wrong password and an unknown user get the same answer.
    let guessing = std::time::Instant::now();
    let (s1, wrong) = attempt("ann", "guess-0").await;
    let (s2, unknown) = attempt("nobody", "guess-0").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong, unknown);
    let mut throttled_at = None;
    for i in 1..20 {
        let response = anyone
            .request(&m, Method::POST, "/api/v1/auth/login")
            .json(&json!({"username": "ann", "password": format!("guess-{i}")}))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            assert!(response.headers().get("retry-after").is_some());
            throttled_at = Some(i);
            break;
        }
        assert_eq!(response.status(), 401);
    }
    // Five a minute per username by default: the sixth is refused (one more for every 12 s the guesses
    // took, which a loaded machine's slow password hashing can make them take: the limit refills).
    let refilled = (guessing.elapsed().as_secs_f64() / 12.0) as usize;
    assert!(
        throttled_at.is_some_and(|n| (5..=5 + refilled).contains(&n)),
        "throttled at {throttled_at:?} after {:?}",
        guessing.elapsed()
    );
    // While throttled, even the right password is refused: guessing learns nothing.
    let (status, _) = attempt("ann", "ann-password").await;
    assert_eq!(status, 429);
    // Spraying other names from the same address hits the per-address limit (20 a minute, 8 used).
    let started = std::time::Instant::now();
    let names: Vec<String> = (0..30).map(|i| format!("user{i}")).collect();
    let answers = futures::future::join_all(names.iter().map(|n| attempt(n, "guess"))).await;
    let tried = answers.iter().filter(|(s, _)| *s == 401).count();
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(tried + refused, 30);
    // One more attempt every 3 s.
    let allowed = 12 + (started.elapsed().as_secs_f64() / 3.0).ceil() as usize;
    assert!(
        refused > 0 && tried <= allowed,
        "{tried} names tried ({allowed} allowed), {refused} refused"
    );
    // The audit log has the attempts.
    let (_, audit) = m.get("/api/v1/audit?limit=1000").await;
    let logins = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "/api/v1/auth/login")
        .count();
    assert!(logins >= 20, "{logins} login entries");
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_cap_a_users_bots_and_memory() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    // Workers get 128 MiB each by default.
    add_user(
        &m,
        "ann",
        "user",
        json!({"max_instances": 3, "max_memory_mb": 200}),
    )
    .await;
    let ann = Caller::new("ann", &login(&m, "ann").await);
    let first = create_bot(&m, &ann, &fake.add_bot(7_400_201, "q1_bot")).await;
    let (status, body) = ann
        .post(
            &m,
            "/api/v1/instances",
            &json!({"provider": "telegram", "token": fake.add_bot(7_400_202, "q2_bot")}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("MiB"), "{body}");
    let (_, me) = ann.get(&m, "/api/v1/users/me").await;
    assert_eq!(me["max_memory_mb"], json!({"limit": 200, "used": 128}));
    assert_eq!(me["max_instances"], json!({"limit": 3, "used": 1}));
    // A smaller limit on the first bot makes room; a larger one than the quota is refused.
    let (status, body) = send(
        ann.request(&m, Method::PATCH, &format!("/api/v1/instances/{first}"))
            .json(&json!({"memory_limit_mb": 300})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = send(
        ann.request(&m, Method::PATCH, &format!("/api/v1/instances/{first}"))
            .json(&json!({"memory_limit_mb": 64})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    create_bot(&m, &ann, &fake.add_bot(7_400_203, "q3_bot")).await;
    let (_, me) = ann.get(&m, "/api/v1/users/me").await;
    assert_eq!(me["max_memory_mb"], json!({"limit": 200, "used": 192}));
    assert_eq!(me["max_instances"]["used"], 2);
    // Admins have no quota.
    let (_, me) = m.get("/api/v1/users/me").await;
    assert_eq!(me["max_instances"]["limit"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_says_who_did_what() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let ann_id = add_user(&m, "ann", "user", json!({})).await;
    let ann = Caller::new("ann", &login(&m, "ann").await);
    let (key, key_id) = mint(
        &m,
        &ann,
        json!({"name": "k", "scopes": ["read", "control"]}),
    )
    .await;
    let keyed = Caller::new("key", &key);
    let bot = create_bot(&m, &keyed, &fake.add_bot(7_400_301, "audit_bot")).await;
    let (status, _) = keyed
        .post(&m, &format!("/api/v1/instances/{bot}/restart"), &json!({}))
        .await;
    assert_eq!(status, 200);
    // Refused: no settings scope.
    let (status, _) = send(
        keyed
            .request(&m, Method::PATCH, &format!("/api/v1/instances/{bot}"))
            .json(&json!({"memory_limit_mb": 100})),
    )
    .await;
    assert_eq!(status, 403);
    // Users may not read the log.
    assert_eq!(ann.get(&m, "/api/v1/audit").await.0, 403);

    let (status, audit) = m.get(&format!("/api/v1/audit?instance_id={bot}")).await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    let find = |route: &str, status: u64| {
        entries
            .iter()
            .find(|e| e["route"] == route && e["status"] == status)
            .unwrap_or_else(|| panic!("no {route} {status} in {audit}"))
    };
    let created = find("/api/v1/instances", 201);
    assert_eq!(created["actor"], format!("key:{key_id}"));
    assert_eq!(created["user_id"], ann_id.as_str());
    assert_eq!(created["method"], "POST");
    find("/api/v1/instances/{id}/restart", 200);
    find("/api/v1/instances/{id}", 403);
    // Newest first, and filtered by user too.
    let (_, by_user) = m.get(&format!("/api/v1/audit?user_id={ann_id}")).await;
    assert!(by_user["total"].as_i64().unwrap() >= 4, "{by_user}");
    let (_, none) = m.get("/api/v1/audit?user_id=nobody").await;
    assert_eq!(none["total"], 0);
}
