//! The WhatsApp provider against the fake Graph API, in process: connect, a refused token, a signed
//! callback read into messages, text and media sent, the platform's limits paced and its rate-limit
//! errors waited out.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use botfleet_tests::{
    fake_whatsapp::{FakeWhatsapp, Limits, WhatsappNumber},
    platform_signing::sign_whatsapp,
};
use shared::{
    api::credentials::WhatsappCredentials,
    worker_api::{ChatKind, ChatRef, MediaKind, ParseMode},
};
use worker::provider::{
    ConnectError, Inbound, Media, MediaSource, Message, Provider, SendError, TextOptions,
    whatsapp::{Pacing, WhatsappProvider},
};

async fn fake() -> (FakeWhatsapp, String) {
    let (fake, addr) = FakeWhatsapp::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("fake starts");
    (fake, format!("http://{addr}/v21.0"))
}

fn credentials(number: &WhatsappNumber) -> WhatsappCredentials {
    serde_json::from_value(number.credentials_json()).expect("credentials shape")
}

/// Limits short enough for tests, the same on both sides.
fn quick() -> (Limits, Pacing) {
    let limits = Limits {
        throughput_per_sec: 80,
        pair_interval: Duration::from_millis(300),
        pair_burst: 2,
    };
    let pacing = Pacing {
        messages_per_second: 75,
        pair_interval: limits.pair_interval,
        pair_burst: limits.pair_burst,
        pair_margin: Duration::from_millis(50),
        throughput_backoff: Duration::from_millis(100),
        max_wait: Duration::from_secs(5),
        check_every: Duration::from_millis(100),
    };
    (limits, pacing)
}

fn chat(s: &str) -> ChatRef {
    ChatRef::parse(s).expect("chat ref")
}

#[tokio::test]
async fn connect_says_who_the_number_is() {
    let (fake, url) = fake().await;
    let number = fake.add_number("Jasper's Market");
    let p = WhatsappProvider::new(&credentials(&number), &url).expect("provider");
    let me = p.connect().await.expect("connects");
    assert_eq!(me.id, number.phone_number_id);
    assert_eq!(me.name, "Jasper's Market");
    let digits: String = number
        .display_phone_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    assert_eq!(me.username.as_deref(), Some(digits.as_str()));
    assert_eq!(fake.calls(&number.phone_number_id, "GET"), 1);
}

#[tokio::test]
async fn a_refused_token_is_final_and_an_outage_is_not() {
    let (fake, url) = fake().await;
    let number = fake.add_number("Shop");
    let mut wrong = credentials(&number);
    wrong.access_token = "EAAGnotthetokenatallreally".into();
    let p = WhatsappProvider::new(&wrong, &url).expect("provider");
    match p.connect().await {
        Err(ConnectError::Refused(message)) => {
            assert!(message.contains("access token"), "{message}");
            assert!(
                !message.contains("EAAGnot"),
                "the token is echoed: {message}"
            );
        }
        other => panic!("expected Refused, got {other:?}"),
    }

    // A number the token cannot see is refused too.
    let other = fake.add_number("Other");
    let mut foreign = credentials(&number);
    foreign.phone_number_id = other.phone_number_id.clone();
    let p = WhatsappProvider::new(&foreign, &url).expect("provider");
    assert!(matches!(p.connect().await, Err(ConnectError::Refused(_))));

    // Graph unavailable: retry.
    fake.fail_next_lookups(&number.phone_number_id, 2, 1);
    let p = WhatsappProvider::new(&credentials(&number), &url).expect("provider");
    assert!(matches!(p.connect().await, Err(ConnectError::Failed(_))));
    assert!(p.connect().await.is_ok());

    // Nothing listening: retry.
    let p =
        WhatsappProvider::new(&credentials(&number), "http://127.0.0.1:1/v21.0").expect("provider");
    assert!(matches!(p.connect().await, Err(ConnectError::Failed(_))));
}

#[tokio::test]
async fn a_signed_callback_becomes_a_message() {
    let (fake, url) = fake().await;
    let number = fake.add_number("Shop");
    let p = WhatsappProvider::new(&credentials(&number), &url).expect("provider");
    let callback = fake.text_callback(&number, "16505551234", "Zoë Q", "hello / héllo 👋");
    // Signed over the raw bytes, which carry Meta's escapes.
    assert_eq!(
        callback.signature,
        sign_whatsapp(&number.app_secret, &callback.body)
    );
    let raw = String::from_utf8(callback.body.clone()).expect("ascii");
    assert!(raw.is_ascii() && raw.contains(r"\/") && raw.contains(r"\u00e9"));

    let messages = p.parse_callback(&callback.body).expect("parsed");
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.chat.id.as_str(), "16505551234");
    assert_eq!(m.chat.kind, ChatKind::Private);
    assert_eq!(m.chat.name.as_deref(), Some("Zoë Q"));
    assert_eq!(m.text.as_deref(), Some("hello / héllo 👋"));
    assert_eq!(m.from.as_ref().map(|f| f.name.as_str()), Some("Zoë Q"));
    assert!(m.id.starts_with("wamid."));
    assert!(m.date > 1_700_000_000);

    // A delivery status is not a message.
    let status = fake.status_callback(&number, &m.id, "16505551234", "delivered");
    assert!(p.parse_callback(&status.body).expect("parsed").is_empty());
}

#[tokio::test]
async fn text_and_media_land_in_the_fake() {
    let (fake, url) = fake().await;
    let number = fake.add_number("Shop");
    let p = WhatsappProvider::new(&credentials(&number), &url).expect("provider");
    p.connect().await.expect("connects");

    let sent = p
        .send_text(&chat("+16505551234"), "Hi there", &TextOptions::default())
        .await
        .expect("sent");
    assert_eq!(sent.chat.id.as_str(), "16505551234");
    assert_eq!(sent.text.as_deref(), Some("Hi there"));
    assert!(sent.from.as_ref().is_some_and(|f| f.is_bot));

    let media = |kind, url: &str, caption: Option<&str>| Media {
        kind,
        source: MediaSource::Url(url.to_string()),
        caption: caption.map(str::to_string),
    };
    let to = chat("16505551234");
    let none = TextOptions::default();
    p.send_media(
        &to,
        media(
            MediaKind::Photo,
            "https://example.com/a.jpg",
            Some("A photo"),
        ),
        &none,
    )
    .await
    .expect("photo");
    p.send_media(
        &to,
        media(
            MediaKind::Document,
            "https://example.com/files/report.pdf",
            None,
        ),
        &none,
    )
    .await
    .expect("document");
    p.send_media(
        &to,
        media(MediaKind::Video, "https://example.com/v.mp4", Some("clip")),
        &none,
    )
    .await
    .expect("video");
    let audio = p
        .send_media(
            &to,
            media(
                MediaKind::Audio,
                "https://example.com/a.ogg",
                Some("listen"),
            ),
            &none,
        )
        .await
        .expect("audio");
    assert_eq!(audio.text.as_deref(), Some("listen"));

    let all = fake.sent_by(&number.phone_number_id);
    let kinds: Vec<&str> = all.iter().map(|s| s.kind.as_str()).collect();
    // The audio's caption follows it as a text: WhatsApp audio takes none.
    assert_eq!(
        kinds,
        ["text", "image", "document", "video", "audio", "text"]
    );
    assert_eq!(all[0].text.as_deref(), Some("Hi there"));
    assert_eq!(all[0].to, "16505551234");
    assert_eq!(all[0].message_id, sent.id);
    assert_eq!(all[0].body["messaging_product"], "whatsapp");
    assert_eq!(all[1].link.as_deref(), Some("https://example.com/a.jpg"));
    assert_eq!(all[1].caption.as_deref(), Some("A photo"));
    assert_eq!(all[2].filename.as_deref(), Some("report.pdf"));
    assert_eq!(all[4].caption, None);
    assert_eq!(all[5].text.as_deref(), Some("listen"));
}

#[tokio::test]
async fn what_whatsapp_cannot_do_is_refused_before_sending() {
    let (fake, url) = fake().await;
    let number = fake.add_number("Shop");
    let p = WhatsappProvider::new(&credentials(&number), &url).expect("provider");
    let to = chat("16505551234");
    let html = TextOptions {
        parse_mode: Some(ParseMode::Html),
        reply_markup: None,
    };
    assert!(matches!(
        p.send_text(&to, "<b>x</b>", &html).await,
        Err(SendError::Unsupported {
            field: "parseMode",
            ..
        })
    ));
    let upload = Media {
        kind: MediaKind::Photo,
        source: MediaSource::Upload {
            file_name: "a.jpg".into(),
            bytes: vec![1, 2, 3].into(),
        },
        caption: None,
    };
    assert!(matches!(
        p.send_media(&to, upload, &TextOptions::default()).await,
        Err(SendError::Unsupported { .. })
    ));
    assert!(matches!(
        p.send_text(&chat("@someone"), "x", &TextOptions::default())
            .await,
        Err(SendError::BadChat { .. })
    ));
    assert_eq!(fake.calls(&number.phone_number_id, "messages"), 0);
}

#[tokio::test]
async fn a_recipient_outside_the_allowed_list_is_refused() {
    let (fake, url) = fake().await;
    let number = fake.add_number("Test number");
    fake.allow_only(&number.phone_number_id, &["+1 650 555 1234"]);
    let p = WhatsappProvider::new(&credentials(&number), &url).expect("provider");
    let none = TextOptions::default();
    assert!(p.send_text(&chat("16505551234"), "ok", &none).await.is_ok());
    match p.send_text(&chat("16505559999"), "no", &none).await {
        Err(SendError::Refused(message)) => {
            assert!(message.contains("allowed list"), "{message}")
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(fake.refused(&number.phone_number_id, 131030), 1);
}

#[tokio::test]
async fn sends_to_one_user_are_paced_under_the_pair_limit() {
    let (fake, url) = fake().await;
    let (limits, pacing) = quick();
    fake.set_limits(limits);
    let number = fake.add_number("Shop");
    let p = Arc::new(
        WhatsappProvider::with_pacing(&credentials(&number), &url, pacing).expect("provider"),
    );
    let started = Instant::now();
    // Six at once to the same user, two to another.
    let mut tasks = Vec::new();
    for (i, to) in [
        "111111111",
        "111111111",
        "111111111",
        "111111111",
        "111111111",
        "111111111",
        "222222222",
        "222222222",
    ]
    .into_iter()
    .enumerate()
    {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            p.send_text(&chat(to), &format!("m{i}"), &TextOptions::default())
                .await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("sent");
    }
    // Burst of 2, then one every 300 ms (+ the margin): the sixth leaves after 4 intervals.
    assert!(
        started.elapsed() >= Duration::from_millis(1150),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.refused(&number.phone_number_id, 131056), 0);
    assert_eq!(fake.refused(&number.phone_number_id, 130429), 0);
    let to_one: Vec<Instant> = fake
        .sent_by(&number.phone_number_id)
        .iter()
        .filter(|s| s.wa_id == "111111111")
        .map(|s| s.at)
        .collect();
    assert_eq!(to_one.len(), 6);
    // The other user waited for nothing.
    for s in fake
        .sent_by(&number.phone_number_id)
        .iter()
        .filter(|s| s.wa_id == "222222222")
    {
        assert!(
            s.at - started < Duration::from_millis(250),
            "{:?}",
            s.at - started
        );
    }
}

#[tokio::test]
async fn rate_limit_errors_are_waited_out() {
    let (fake, url) = fake().await;
    let (limits, pacing) = quick();
    fake.set_limits(limits);
    let number = fake.add_number("Shop");
    let p = WhatsappProvider::with_pacing(&credentials(&number), &url, pacing).expect("provider");
    let none = TextOptions::default();

    // Throughput (130429) twice: 100 ms, then 200 ms.
    fake.fail_next_sends(&number.phone_number_id, 130429, 2);
    let started = Instant::now();
    p.send_text(&chat("16505551234"), "after throughput", &none)
        .await
        .expect("sent after waiting");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.refused(&number.phone_number_id, 130429), 2);

    // The pair limit (131056) once: a pair interval.
    fake.fail_next_sends(&number.phone_number_id, 131056, 1);
    let started = Instant::now();
    p.send_text(&chat("16505557777"), "after pair limit", &none)
        .await
        .expect("sent after waiting");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.refused(&number.phone_number_id, 131056), 1);
    let texts: Vec<String> = fake
        .sent_by(&number.phone_number_id)
        .into_iter()
        .filter_map(|s| s.text)
        .collect();
    assert_eq!(texts, ["after throughput", "after pair limit"]);
}

#[tokio::test]
async fn a_limit_that_outlasts_the_budget_is_a_rate_limited_error() {
    let (fake, url) = fake().await;
    let (limits, mut pacing) = quick();
    pacing.max_wait = Duration::from_millis(500);
    fake.set_limits(limits);
    let number = fake.add_number("Shop");
    let p = WhatsappProvider::with_pacing(&credentials(&number), &url, pacing).expect("provider");
    fake.fail_next_sends(&number.phone_number_id, 130429, 50);
    let started = Instant::now();
    match p
        .send_text(&chat("16505551234"), "never", &TextOptions::default())
        .await
    {
        Err(SendError::RateLimited { retry_after, .. }) => {
            assert!(retry_after >= Duration::from_secs(1))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(fake.sent_by(&number.phone_number_id).is_empty());
}

#[derive(Default)]
struct Recorder {
    alive: Mutex<usize>,
    trouble: Mutex<Vec<String>>,
    messages: Mutex<Vec<Message>>,
}

impl Inbound for Recorder {
    fn message(&self, message: Message) {
        self.messages.lock().expect("lock").push(message);
    }
    fn alive(&self) {
        *self.alive.lock().expect("lock") += 1;
    }
    fn trouble(&self, error: &str, _first: bool) {
        self.trouble.lock().expect("lock").push(error.to_string());
    }
    fn recovered(&self, _failures: u32) {}
}

#[tokio::test]
async fn receive_waits_and_ends_when_the_token_is_revoked() {
    let (fake, url) = fake().await;
    let (_, pacing) = quick();
    let number = fake.add_number("Shop");
    let p = Arc::new(
        WhatsappProvider::with_pacing(&credentials(&number), &url, pacing).expect("provider"),
    );
    let inbound = Arc::new(Recorder::default());
    let receiving = {
        let (p, inbound) = (p.clone(), inbound.clone());
        tokio::spawn(async move { p.receive(inbound).await })
    };
    // Still receiving (waiting for callbacks) after a few checks.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!receiving.is_finished());
    assert!(*inbound.alive.lock().expect("lock") >= 2);
    // A check that fails is trouble, not the end.
    fake.fail_next_lookups(&number.phone_number_id, 2, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!receiving.is_finished());
    assert!(!inbound.trouble.lock().expect("lock").is_empty());
    // A revoked token is.
    fake.rotate_token(&number.phone_number_id);
    let ended = tokio::time::timeout(Duration::from_secs(2), receiving)
        .await
        .expect("receive ends")
        .expect("task");
    assert!(matches!(ended, ConnectError::Refused(_)), "{ended:?}");
}
