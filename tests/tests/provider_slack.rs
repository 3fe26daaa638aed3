//! The Slack provider against the fake Slack, in process: connect, Socket Mode receive (acks,
//! redeliveries, `disconnect`, dropped and silent sockets), sends (text, media by link and upload),
//! 429s waited out, refused tokens.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use botfleet_tests::fake_slack::{FakeSlack, SlackApp};
use bytes::Bytes;
use shared::{
    api::credentials::SlackCredentials,
    worker_api::{ChatKind, ChatRef, MediaKind},
};
use tokio::sync::mpsc;
use worker::provider::{
    ConnectError, Inbound, Media, MediaSource, Message, Provider, SendError, TextOptions,
    slack::{SlackProvider, SlackTimings},
};

/// What the provider reported.
#[derive(Debug)]
enum Seen {
    Message(Message),
    Trouble(String),
    Recovered(u32),
}

struct Recorder {
    tx: mpsc::UnboundedSender<Seen>,
    alive: Mutex<usize>,
}

impl Inbound for Recorder {
    fn message(&self, message: Message) {
        let _ = self.tx.send(Seen::Message(message));
    }
    fn alive(&self) {
        *self.alive.lock().unwrap() += 1;
    }
    fn trouble(&self, error: &str, _first: bool) {
        let _ = self.tx.send(Seen::Trouble(error.to_string()));
    }
    fn recovered(&self, failures: u32) {
        let _ = self.tx.send(Seen::Recovered(failures));
    }
}

struct Setup {
    fake: FakeSlack,
    app: SlackApp,
    provider: Arc<SlackProvider>,
    recorder: Arc<Recorder>,
    seen: mpsc::UnboundedReceiver<Seen>,
    /// Trouble and recoveries [`Setup::next_message`] passed over.
    passed: Vec<Seen>,
    receiving: Option<tokio::task::JoinHandle<ConnectError>>,
}

fn timings() -> SlackTimings {
    SlackTimings {
        ping_interval: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        max_wait: Duration::from_secs(5),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(500),
    }
}

fn credentials(app: &SlackApp) -> SlackCredentials {
    SlackCredentials {
        bot_token: app.bot_token.clone(),
        app_token: app.app_token.clone(),
        signing_secret: None,
    }
}

async fn start_fake() -> (FakeSlack, SocketAddr) {
    FakeSlack::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("fake Slack")
}

/// A fake with one app, a provider for it, connected; receiving when `receive`.
async fn setup(receive: bool) -> Setup {
    let (fake, addr) = start_fake().await;
    let app = fake.add_app("fleetbot");
    let provider = Arc::new(
        SlackProvider::with_timings(
            &credentials(&app),
            &format!("http://{addr}/api/"),
            timings(),
        )
        .unwrap(),
    );
    let (tx, seen) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        tx,
        alive: Mutex::new(0),
    });
    let mut setup = Setup {
        fake,
        app,
        provider,
        recorder,
        seen,
        passed: Vec::new(),
        receiving: None,
    };
    setup.provider.connect().await.expect("connect");
    if receive {
        let provider = setup.provider.clone();
        let inbound: Arc<dyn Inbound> = setup.recorder.clone();
        setup.receiving = Some(tokio::spawn(async move { provider.receive(inbound).await }));
        let (fake, app) = (setup.fake.clone(), setup.app.clone());
        assert!(
            fake.wait_for(Duration::from_secs(5), |f| f.live_sockets(&app) == 1)
                .await,
            "the provider opened no socket"
        );
    }
    setup
}

impl Setup {
    /// The next message the provider delivered (keeping trouble reports in `passed`), within 5 s.
    async fn next_message(&mut self) -> Message {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(Seen::Message(m))) => return m,
                Ok(Some(other)) => self.passed.push(other),
                _ => panic!("no message arrived"),
            }
        }
    }

    /// Everything reported within `window`.
    async fn drain(&mut self, window: Duration) -> Vec<Seen> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(seen)) = tokio::time::timeout_at(deadline, self.seen.recv()).await {
            out.push(seen);
        }
        out
    }

    fn alive(&self) -> usize {
        *self.recorder.alive.lock().unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(r) = self.receiving.take() {
            r.abort();
        }
    }
}

fn chat(id: &str) -> ChatRef {
    ChatRef::parse(id).unwrap()
}

#[tokio::test]
async fn connect_says_who_the_bot_is() {
    let s = setup(false).await;
    let identity = s.provider.connect().await.unwrap();
    assert_eq!(identity.id, s.app.bot_user_id);
    assert_eq!(identity.name, "fleetbot");
    assert_eq!(identity.username.as_deref(), Some("fleetbot"));
    assert_eq!(s.fake.calls("auth.test"), 2);
}

#[tokio::test]
async fn the_fakes_tokens_pass_the_credential_rules() {
    let (fake, _) = start_fake().await;
    let app = fake.add_app("rulesbot");
    let value = serde_json::json!({"bot_token": app.bot_token, "app_token": app.app_token});
    shared::api::credentials::Credentials::from_request(shared::Provider::Slack, value)
        .expect("valid Slack credentials");
}

#[tokio::test]
async fn a_refused_bot_token_is_refused() {
    let (fake, addr) = start_fake().await;
    let app = fake.add_app("x");
    let mut wrong = credentials(&app);
    wrong.bot_token = "xoxb-0000-0000-notarealtokenatall".into();
    let provider =
        SlackProvider::with_timings(&wrong, &format!("http://{addr}/api/"), timings()).unwrap();
    match provider.connect().await {
        Err(ConnectError::Refused(e)) => assert!(e.contains("invalid_auth"), "{e}"),
        other => panic!("expected Refused, got {other:?}"),
    }
    // A revoked token too; and a platform that cannot be reached is a failure to retry.
    fake.revoke(&app);
    let revoked = SlackProvider::with_timings(
        &credentials(&app),
        &format!("http://{addr}/api/"),
        timings(),
    )
    .unwrap();
    assert!(
        matches!(revoked.connect().await, Err(ConnectError::Refused(e)) if e.contains("token_revoked"))
    );
    let nowhere =
        SlackProvider::with_timings(&credentials(&app), "http://127.0.0.1:9/api/", timings())
            .unwrap();
    assert!(matches!(
        nowhere.connect().await,
        Err(ConnectError::Failed(_))
    ));
}

#[tokio::test]
async fn a_refused_app_token_ends_receive() {
    let (fake, addr) = start_fake().await;
    let app = fake.add_app("x");
    let mut wrong = credentials(&app);
    wrong.app_token = "xapp-1-A000-0000-notarealtokenatall".into();
    let provider =
        SlackProvider::with_timings(&wrong, &format!("http://{addr}/api/"), timings()).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let inbound = Arc::new(Recorder {
        tx,
        alive: Mutex::new(0),
    });
    let end = tokio::time::timeout(Duration::from_secs(5), provider.receive(inbound))
        .await
        .expect("receive returns");
    assert!(matches!(end, ConnectError::Refused(e) if e.contains("invalid_auth")));
    // The bot token where the app-level one belongs is not the right type.
    let mut swapped = credentials(&app);
    swapped.app_token = app.bot_token.clone();
    let provider =
        SlackProvider::with_timings(&swapped, &format!("http://{addr}/api/"), timings()).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let inbound = Arc::new(Recorder {
        tx,
        alive: Mutex::new(0),
    });
    let end = tokio::time::timeout(Duration::from_secs(5), provider.receive(inbound))
        .await
        .expect("receive returns");
    assert!(matches!(end, ConnectError::Refused(e) if e.contains("not_allowed_token_type")));
}

#[tokio::test]
async fn a_pushed_message_arrives_named_and_acknowledged() {
    let mut s = setup(true).await;
    let ann = s.fake.add_user("Ann Lee");
    let general = s.fake.add_channel("general", false);
    let secret = s.fake.add_channel("secret", true);
    let dm = s.fake.open_im(&ann);

    s.fake.push_message(&s.app, &general, &ann, "hello all");
    let m = s.next_message().await;
    assert_eq!(m.chat.id.as_str(), general);
    assert_eq!(m.chat.kind, ChatKind::Channel);
    assert_eq!(m.chat.name.as_deref(), Some("general"));
    assert_eq!(m.text.as_deref(), Some("hello all"));
    let from = m.from.unwrap();
    assert_eq!(
        (from.id.as_str(), from.name.as_str()),
        (ann.as_str(), "Ann Lee")
    );
    assert!(!from.is_bot);
    assert!(m.date > 1_600_000_000);

    s.fake.push_message(&s.app, &secret, &ann, "psst");
    let m = s.next_message().await;
    assert_eq!(
        (m.chat.kind, m.chat.name.as_deref()),
        (ChatKind::Group, Some("secret"))
    );

    s.fake.push_message(&s.app, &dm, &ann, "just us");
    let m = s.next_message().await;
    assert_eq!(m.chat.id.as_str(), dm);
    assert_eq!(
        (m.chat.kind, m.chat.name.as_deref()),
        (ChatKind::Private, Some("Ann Lee"))
    );

    let (fake, app) = (s.fake.clone(), s.app.clone());
    assert!(
        fake.wait_for(Duration::from_secs(2), |f| f.acks(&app) == 3
            && f.unacked(&app) == 0)
            .await
    );
    assert!(s.alive() >= 4, "hello and each envelope are signs of life");
    // One lookup per chat and per person, however many messages.
    s.fake.push_message(&s.app, &general, &ann, "again");
    s.next_message().await;
    assert_eq!(s.fake.calls("conversations.info"), 3);
    assert_eq!(s.fake.calls("users.info"), 1);
}

#[tokio::test]
async fn own_messages_and_non_user_subtypes_are_not_messages() {
    let mut s = setup(true).await;
    let ann = s.fake.add_user("Ann");
    let general = s.fake.add_channel("general", false);
    // The fake echoes the bot's own post back as an event, as Slack does.
    s.provider
        .send_text(&chat(&general), "from the bot", &TextOptions::default())
        .await
        .unwrap();
    for subtype in [
        "message_changed",
        "message_deleted",
        "channel_join",
        "bot_message",
    ] {
        s.fake.push_event(
            &s.app,
            serde_json::json!({"type": "message", "subtype": subtype, "channel": general,
                "user": ann, "text": "x", "ts": "1700000000.000001", "channel_type": "channel"}),
        );
    }
    s.fake.push_message(&s.app, &general, &ann, "a real one");
    let m = s.next_message().await;
    assert_eq!(m.text.as_deref(), Some("a real one"));
    let rest = s.drain(Duration::from_millis(300)).await;
    assert!(
        !rest.iter().any(|r| matches!(r, Seen::Message(_))),
        "{rest:?}"
    );
    let (fake, app) = (s.fake.clone(), s.app.clone());
    assert!(
        fake.wait_for(Duration::from_secs(2), |f| f.acks(&app) == 6)
            .await,
        "every envelope is acknowledged, the ignored ones too"
    );
}

#[tokio::test]
async fn a_redelivered_event_is_delivered_once() {
    let mut s = setup(true).await;
    let ann = s.fake.add_user("Ann");
    let general = s.fake.add_channel("general", false);
    // Slack does not see the first ack: it sends the event again after its ack timeout.
    s.fake.set_ack_timeout(Duration::from_millis(300));
    s.fake.ignore_acks(1);
    let event = s.fake.push_message(&s.app, &general, &ann, "once");
    assert_eq!(s.next_message().await.text.as_deref(), Some("once"));
    let (fake, app) = (s.fake.clone(), s.app.clone());
    let ev = event.clone();
    assert!(
        fake.wait_for(Duration::from_secs(3), |f| f.deliveries(&ev) == 2
            && f.unacked(&app) == 0)
            .await,
        "the event was delivered again and that envelope acknowledged"
    );
    // And a redelivery forced later, after both were acknowledged.
    assert!(s.fake.redeliver(&event));
    assert!(
        fake.wait_for(Duration::from_secs(2), |f| f.deliveries(&event) == 3
            && f.acks(&app) == 3)
            .await
    );
    let rest = s.drain(Duration::from_millis(300)).await;
    assert!(
        !rest.iter().any(|r| matches!(r, Seen::Message(_))),
        "{rest:?}"
    );
}

#[tokio::test]
async fn disconnect_opens_a_new_socket_and_nothing_is_lost() {
    let mut s = setup(true).await;
    let ann = s.fake.add_user("Ann");
    let general = s.fake.add_channel("general", false);
    assert_eq!(s.fake.connections_opened(&s.app), 1);
    s.fake.disconnect(&s.app, "warning");
    s.fake.disconnect(&s.app, "refresh_requested");
    let (fake, app) = (s.fake.clone(), s.app.clone());
    assert!(
        fake.wait_for(Duration::from_secs(3), |f| f.connections_opened(&app) == 2
            && f.live_sockets(&app) == 1)
            .await,
        "a new socket after refresh_requested"
    );
    s.fake
        .push_message(&s.app, &general, &ann, "after the refresh");
    assert_eq!(
        s.next_message().await.text.as_deref(),
        Some("after the refresh")
    );
    // A refresh Slack asked for is not trouble.
    let rest = s.drain(Duration::from_millis(200)).await;
    assert!(
        !rest.iter().any(|r| matches!(r, Seen::Trouble(_))),
        "{rest:?}"
    );
}

#[tokio::test]
async fn a_dropped_socket_is_reopened_and_reported() {
    let mut s = setup(true).await;
    let ann = s.fake.add_user("Ann");
    let general = s.fake.add_channel("general", false);
    s.fake.drop_sockets(&s.app);
    // Pushed while the bot has no socket: it waits for the next one.
    s.fake.push_message(&s.app, &general, &ann, "while away");
    assert_eq!(s.next_message().await.text.as_deref(), Some("while away"));
    let mut reports = std::mem::take(&mut s.passed);
    reports.extend(s.drain(Duration::from_millis(300)).await);
    assert!(
        matches!(reports.first(), Some(Seen::Trouble(_))),
        "{reports:?}"
    );
    assert!(
        reports.iter().any(|r| matches!(r, Seen::Recovered(1))),
        "{reports:?}"
    );
    assert_eq!(s.fake.connections_opened(&s.app), 2);
}

#[tokio::test]
async fn a_silent_socket_is_given_up_and_reopened() {
    let mut s = setup(true).await;
    s.fake.stall_sockets(&s.app);
    let (fake, app) = (s.fake.clone(), s.app.clone());
    assert!(
        fake.wait_for(Duration::from_secs(5), |f| f.connections_opened(&app) == 2
            && f.live_sockets(&app) == 1)
            .await,
        "no pong for the idle timeout: a new socket"
    );
    let reports = s.drain(Duration::from_millis(300)).await;
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Seen::Trouble(e) if e.contains("no word"))),
        "{reports:?}"
    );
    s.fake.drop_sockets(&s.app);
}

#[tokio::test]
async fn text_lands_in_the_channel() {
    let s = setup(false).await;
    let general = s.fake.add_channel("general", false);
    let sent = s
        .provider
        .send_text(&chat(&general), "hi *there*", &TextOptions::default())
        .await
        .unwrap();
    let posted = s.fake.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].channel, general);
    assert_eq!(posted[0].text.as_deref(), Some("hi *there*"));
    assert_eq!(sent.id, posted[0].ts);
    assert_eq!(sent.chat.id.as_str(), general);
    assert_eq!(sent.from.unwrap().id, s.app.bot_user_id);

    // To a person's id: the DM with them.
    let ann = s.fake.add_user("Ann");
    let dm = s
        .provider
        .send_text(&chat(&ann), "direct", &TextOptions::default())
        .await
        .unwrap();
    assert!(dm.chat.id.as_str().starts_with('D'));
    assert_eq!(dm.chat.kind, ChatKind::Private);
}

#[tokio::test]
async fn slacks_refusals_are_refusals() {
    let s = setup(false).await;
    let unknown = s
        .provider
        .send_text(&chat("C0NOSUCHCHAN"), "x", &TextOptions::default())
        .await;
    assert!(matches!(unknown, Err(SendError::Refused(e)) if e.contains("channel_not_found")));
    let archived = s.fake.add_channel("old", false);
    s.fake.archive(&archived);
    let refused = s
        .provider
        .send_text(&chat(&archived), "x", &TextOptions::default())
        .await;
    assert!(matches!(refused, Err(SendError::Refused(e)) if e.contains("is_archived")));
    let bad = s
        .provider
        .send_text(&chat("-100123"), "x", &TextOptions::default())
        .await;
    assert!(matches!(bad, Err(SendError::BadChat { .. })));
    let options = TextOptions {
        parse_mode: Some(shared::worker_api::ParseMode::Html),
        reply_markup: None,
    };
    let unsupported = s.provider.send_text(&chat(&archived), "x", &options).await;
    assert!(matches!(
        unsupported,
        Err(SendError::Unsupported {
            field: "parseMode",
            ..
        })
    ));
    assert_eq!(s.fake.posted().len(), 0);
}

#[tokio::test]
async fn media_by_link_is_a_message() {
    let s = setup(false).await;
    let general = s.fake.add_channel("general", false);
    let photo = Media {
        kind: MediaKind::Photo,
        source: MediaSource::Url("https://example.com/cat.png".into()),
        caption: Some("a cat".into()),
    };
    let sent = s
        .provider
        .send_media(&chat(&general), photo, &TextOptions::default())
        .await
        .unwrap();
    assert_eq!(sent.text.as_deref(), Some("a cat"));
    let doc = Media {
        kind: MediaKind::Document,
        source: MediaSource::Url("https://example.com/report.pdf".into()),
        caption: None,
    };
    s.provider
        .send_media(&chat(&general), doc, &TextOptions::default())
        .await
        .unwrap();
    let posted = s.fake.posted();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].blocks[1]["type"], "image");
    assert_eq!(
        posted[0].blocks[1]["image_url"],
        "https://example.com/cat.png"
    );
    assert_eq!(
        posted[0].text.as_deref(),
        Some("a cat\nhttps://example.com/cat.png")
    );
    assert_eq!(
        posted[1].text.as_deref(),
        Some("https://example.com/report.pdf")
    );
    let bad = Media {
        kind: MediaKind::Photo,
        source: MediaSource::Url("ftp://example.com/x".into()),
        caption: None,
    };
    assert!(matches!(
        s.provider
            .send_media(&chat(&general), bad, &TextOptions::default())
            .await,
        Err(SendError::Unsupported { field: "url", .. })
    ));
}

#[tokio::test]
async fn an_upload_goes_through_the_external_upload_flow() {
    let s = setup(false).await;
    let general = s.fake.add_channel("general", false);
    let file = Media {
        kind: MediaKind::Document,
        source: MediaSource::Upload {
            file_name: "notes.txt".into(),
            bytes: Bytes::from_static(b"some notes"),
        },
        caption: Some("read me".into()),
    };
    let sent = s
        .provider
        .send_media(&chat(&general), file, &TextOptions::default())
        .await
        .unwrap();
    let files = s.fake.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].file_id, sent.id);
    assert_eq!(files[0].filename, "notes.txt");
    assert_eq!(files[0].bytes, b"some notes");
    assert_eq!(files[0].channel.as_deref(), Some(general.as_str()));
    assert_eq!(files[0].initial_comment.as_deref(), Some("read me"));
    assert_eq!(s.fake.calls("files.getUploadURLExternal"), 1);
    assert_eq!(s.fake.calls("files.completeUploadExternal"), 1);
}

#[tokio::test]
async fn a_429_is_waited_out() {
    let s = setup(false).await;
    let general = s.fake.add_channel("general", false);
    s.fake.rate_limit("chat.postMessage", 1, 1);
    let started = std::time::Instant::now();
    s.provider
        .send_text(&chat(&general), "patient", &TextOptions::default())
        .await
        .expect("sent after the wait");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(s.fake.rate_limited("chat.postMessage"), 1);
    assert_eq!(s.fake.posted().len(), 1);

    // A wait longer than the provider's limit is the caller's 429.
    s.fake.rate_limit("chat.postMessage", 1, 60);
    let started = std::time::Instant::now();
    let limited = s
        .provider
        .send_text(&chat(&general), "impatient", &TextOptions::default())
        .await;
    match limited {
        Err(SendError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(60))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no pointless wait"
    );
    // Later sends of the method are held back too, without asking Slack.
    let calls = s.fake.calls("chat.postMessage");
    let held = s
        .provider
        .send_text(&chat(&general), "held", &TextOptions::default())
        .await;
    assert!(matches!(held, Err(SendError::RateLimited { .. })));
    assert_eq!(s.fake.calls("chat.postMessage"), calls);
}
