//! Discord behind the worker's provider seam, in process, against the fake Discord: connecting, the
//! gateway (MESSAGE_CREATE, heartbeats, RESUME after a dropped socket, a new IDENTIFY after
//! INVALID_SESSION, a refused token), and sending (text, media uploaded or fetched from a URL, Discord's
//! errors, buckets and 429s waited out or given back).
//!
//! `cargo test -p botfleet-tests --test provider_discord`

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use botfleet_tests::fake_discord::{FakeDiscord, Scope};
use bytes::Bytes;
use shared::{
    api::credentials::DiscordCredentials,
    worker_api::{ChatKind, ChatRef, MediaKind, ParseMode},
};
use worker::provider::{
    ConnectError, Inbound, Media, MediaSource, Message, Provider, SendError, TextOptions,
    discord::DiscordProvider,
};

/// What the provider delivered.
#[derive(Default)]
struct Recorder {
    messages: Mutex<Vec<Message>>,
    alive: AtomicUsize,
    troubles: Mutex<Vec<(String, bool)>>,
    recovered: Mutex<Vec<u32>>,
}

impl Inbound for Recorder {
    fn message(&self, message: Message) {
        self.messages.lock().unwrap().push(message);
    }
    fn alive(&self) {
        self.alive.fetch_add(1, Ordering::SeqCst);
    }
    fn trouble(&self, error: &str, first: bool) {
        self.troubles
            .lock()
            .unwrap()
            .push((error.to_string(), first));
    }
    fn recovered(&self, failures: u32) {
        self.recovered.lock().unwrap().push(failures);
    }
}

impl Recorder {
    fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    async fn wait_messages(&self, count: usize) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct Setup {
    fake: FakeDiscord,
    addr: std::net::SocketAddr,
    token: String,
    provider: Arc<DiscordProvider>,
}

fn provider(addr: std::net::SocketAddr, token: &str) -> DiscordProvider {
    DiscordProvider::new(
        &DiscordCredentials {
            bot_token: token.to_string(),
            public_key: None,
        },
        &format!("http://{addr}/api"),
        &format!("ws://{addr}"),
    )
    .expect("provider")
}

async fn setup() -> Setup {
    let (fake, addr) = FakeDiscord::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let token = fake.add_bot("fleetbot");
    let provider = Arc::new(provider(addr, &token));
    Setup {
        fake,
        addr,
        token,
        provider,
    }
}

/// Starts receiving and waits until the session is up (READY handled).
async fn receiving(s: &Setup) -> (Arc<Recorder>, tokio::task::JoinHandle<ConnectError>) {
    let recorder = Arc::new(Recorder::default());
    let provider = s.provider.clone();
    let inbound: Arc<dyn Inbound> = recorder.clone();
    let task = tokio::spawn(async move { provider.receive(inbound).await });
    assert!(
        s.fake
            .wait_until(Duration::from_secs(10), |f| f.live_sessions(&s.token) == 1)
            .await,
        "the provider never identified"
    );
    // READY and GUILD_CREATE are read right after they are sent.
    let deadline = Instant::now() + Duration::from_secs(5);
    while recorder.alive.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (recorder, task)
}

fn chat(id: u64) -> ChatRef {
    ChatRef::parse(&id.to_string()).unwrap()
}

#[tokio::test]
async fn connect_says_who_the_bot_is() {
    let s = setup().await;
    let me = s.provider.connect().await.unwrap();
    assert_eq!(me.id, s.fake.bot_id(&s.token).unwrap().to_string());
    assert_eq!(me.name, "fleetbot");
    assert_eq!(me.username.as_deref(), Some("fleetbot"));
    let request = s.fake.requests(&s.token).pop().unwrap();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "users/@me")
    );
}

#[tokio::test]
async fn a_refused_token_is_final() {
    let s = setup().await;
    let stranger = FakeDiscord::default().add_bot("stranger");
    let other = provider(s.addr, &stranger);
    assert!(matches!(
        other.connect().await,
        Err(ConnectError::Refused(_))
    ));
    // The gateway closes with 4004 and receiving ends with the refusal.
    let recorder: Arc<dyn Inbound> = Arc::new(Recorder::default());
    let ended = tokio::time::timeout(Duration::from_secs(10), other.receive(recorder))
        .await
        .expect("receive returns on 4004");
    let ConnectError::Refused(why) = ended else {
        panic!("{ended:?}")
    };
    assert!(why.contains("4004"), "{why}");
    // A token revoked while connected ends the session the same way.
    let (_, task) = receiving(&s).await;
    s.fake.revoke(&s.token);
    let ended = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(ended, ConnectError::Refused(_)), "{ended:?}");
    assert!(matches!(
        s.provider.connect().await,
        Err(ConnectError::Refused(_))
    ));
}

#[tokio::test]
async fn a_disallowed_intent_is_named() {
    let s = setup().await;
    s.fake.allow_privileged_intents(&s.token, false);
    let recorder: Arc<dyn Inbound> = Arc::new(Recorder::default());
    let ended = tokio::time::timeout(Duration::from_secs(10), s.provider.receive(recorder))
        .await
        .unwrap();
    let ConnectError::Refused(why) = ended else {
        panic!("{ended:?}")
    };
    assert!(
        why.contains("Message Content intent") && why.contains("4014"),
        "{why}"
    );
}

#[tokio::test]
async fn messages_reach_the_bot_from_guild_channels_and_dms() {
    let s = setup().await;
    let guild = s.fake.add_guild(&s.token, "Fleet HQ");
    let news = s.fake.add_channel(guild.id, "news", true);
    let (recorder, _task) = receiving(&s).await;
    let dm = s.fake.open_dm(&s.token, "Ada Lovelace");

    let in_guild = s.fake.push_message(guild.general, "hello from the guild");
    let in_dm = s.fake.push_message(dm.channel_id, "hello in private");
    s.fake.push_message(news, "news!");
    let messages = recorder.wait_messages(3).await;
    assert_eq!(messages.len(), 3, "{messages:?}");

    let m = &messages[0];
    assert_eq!(m.id, in_guild.to_string());
    assert_eq!(m.text.as_deref(), Some("hello from the guild"));
    assert_eq!(m.chat.id, chat(guild.general));
    assert_eq!(m.chat.kind, ChatKind::Group);
    assert_eq!(m.chat.name.as_deref(), Some("Fleet HQ #general"));
    let from = m.from.as_ref().unwrap();
    assert_eq!((from.name.as_str(), from.is_bot), ("Member", false));
    assert!((m.date - time_now()).abs() < 60, "{}", m.date);

    let m = &messages[1];
    assert_eq!(m.id, in_dm.to_string());
    assert_eq!(m.chat.kind, ChatKind::Private);
    assert_eq!(m.chat.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(m.from.as_ref().unwrap().id, dm.user_id.to_string());

    assert_eq!(messages[2].chat.kind, ChatKind::Channel);
    assert_eq!(messages[2].chat.name.as_deref(), Some("Fleet HQ #news"));

    // What the bot sends comes back as MESSAGE_CREATE too; it is not inbound.
    s.provider
        .send_text(&chat(dm.channel_id), "reply", &TextOptions::default())
        .await
        .unwrap();
    s.fake.push_message(dm.channel_id, "after the reply");
    let messages = recorder.wait_messages(4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let texts: Vec<_> = recorder
        .messages()
        .iter()
        .filter_map(|m| m.text.clone())
        .collect();
    assert_eq!(texts.len(), 4, "{messages:?}");
    assert_eq!(texts[3], "after the reply");
}

#[tokio::test]
async fn text_and_media_land_in_discord() {
    let s = setup().await;
    s.provider.connect().await.unwrap();
    let guild = s.fake.add_guild(&s.token, "Fleet HQ");
    let dm = s.fake.open_dm(&s.token, "Grace");

    let sent = s
        .provider
        .send_text(
            &chat(guild.general),
            "hi **all** @everyone",
            &TextOptions::default(),
        )
        .await
        .unwrap();
    let got = s.fake.sent();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content, "hi **all** @everyone");
    assert_eq!(got[0].channel_id, guild.general);
    assert_eq!(
        got[0].payload["allowed_mentions"]["parse"],
        serde_json::json!(["users"])
    );
    assert_eq!(sent.id, got[0].message_id.to_string());
    assert_eq!(sent.chat.kind, ChatKind::Group);
    assert_eq!(sent.chat.name.as_deref(), Some("#general"));
    assert!(sent.from.as_ref().unwrap().is_bot);

    // An upload goes as multipart: payload_json and files[0].
    let png = Bytes::from_static(b"\x89PNG\r\n\x1a\nfake-image");
    let sent = s
        .provider
        .send_media(
            &chat(dm.channel_id),
            Media {
                kind: MediaKind::Photo,
                source: MediaSource::Upload {
                    file_name: "cat.png".into(),
                    bytes: png.clone(),
                },
                caption: Some("a cat".into()),
            },
            &TextOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(sent.chat.kind, ChatKind::Private);
    assert_eq!(sent.chat.name.as_deref(), Some("Grace"));
    let got = s.fake.sent().pop().unwrap();
    assert!(got.multipart);
    assert_eq!(got.content, "a cat");
    assert_eq!(got.files.len(), 1);
    assert_eq!(got.files[0].file_name, "cat.png");
    assert_eq!(got.files[0].bytes, png.to_vec());
    assert_eq!(got.payload["attachments"][0]["filename"], "cat.png");

    // A URL is fetched and uploaded.
    s.fake
        .host_file("report.pdf", "application/pdf", b"%PDF-1.4 fake".to_vec());
    s.provider
        .send_media(
            &chat(guild.general),
            Media {
                kind: MediaKind::Document,
                source: MediaSource::Url(format!("http://{}/test-files/report.pdf", s.addr)),
                caption: None,
            },
            &TextOptions::default(),
        )
        .await
        .unwrap();
    let got = s.fake.sent().pop().unwrap();
    assert_eq!(got.files[0].file_name, "report.pdf");
    assert_eq!(
        got.files[0].content_type.as_deref(),
        Some("application/pdf")
    );
    assert_eq!(got.files[0].bytes, b"%PDF-1.4 fake".to_vec());

    // A URL that cannot be fetched is refused, with nothing sent.
    let before = s.fake.sent().len();
    let err = s
        .provider
        .send_media(
            &chat(guild.general),
            Media {
                kind: MediaKind::Video,
                source: MediaSource::Url(format!("http://{}/test-files/missing.mp4", s.addr)),
                caption: None,
            },
            &TextOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Refused(_)), "{err:?}");
    assert_eq!(s.fake.sent().len(), before);
}

#[tokio::test]
async fn discords_refusals_become_send_errors() {
    let s = setup().await;
    let guild = s.fake.add_guild(&s.token, "Fleet HQ");
    let dm = s.fake.open_dm(&s.token, "Blocked Person");
    s.fake.close_dm(dm.channel_id);
    let none = TextOptions::default();

    let err = s
        .provider
        .send_text(&chat(123456789), "x", &none)
        .await
        .unwrap_err();
    let SendError::Refused(why) = err else {
        panic!("{err:?}")
    };
    assert_eq!(why, "Unknown Channel (10003)");

    let err = s
        .provider
        .send_text(&chat(dm.channel_id), "x", &none)
        .await
        .unwrap_err();
    let SendError::Refused(why) = err else {
        panic!("{err:?}")
    };
    assert!(why.contains("50007"), "{why}");

    let err = s
        .provider
        .send_text(&ChatRef::parse("@general").unwrap(), "x", &none)
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::BadChat { .. }), "{err:?}");

    let markdown = TextOptions {
        parse_mode: Some(ParseMode::MarkdownV2),
        ..Default::default()
    };
    let err = s
        .provider
        .send_text(&chat(guild.general), "x", &markdown)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendError::Unsupported {
                field: "parseMode",
                ..
            }
        ),
        "{err:?}"
    );

    let err = s
        .provider
        .send_text(&chat(guild.general), &"x".repeat(2001), &none)
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Unsupported { .. }), "{err:?}");

    assert!(s.provider.check_chat(&chat(guild.general), true).is_ok());
    assert!(
        s.provider
            .check_chat(&ChatRef::parse("abc").unwrap(), false)
            .is_err()
    );
    assert!(s.fake.sent().is_empty());
}

#[tokio::test]
async fn a_429_is_waited_out_per_bucket_and_globally() {
    let s = setup().await;
    let guild = s.fake.add_guild(&s.token, "Fleet HQ");
    let other = s.fake.add_channel(guild.id, "other", false);
    let none = TextOptions::default();

    // A bucket 429: the retry comes after retry_after, not before.
    s.fake
        .rate_limit(&s.token, Scope::User, Duration::from_millis(1200), 1);
    let started = Instant::now();
    s.provider
        .send_text(&chat(guild.general), "one", &none)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1150),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.fake.rate_limited(&s.token), 1);
    assert_eq!(s.fake.early_retries(&s.token), 0);

    // A global 429 holds every route, here another channel's.
    s.fake
        .rate_limit(&s.token, Scope::Global, Duration::from_millis(1000), 1);
    let started = Instant::now();
    let general = chat(guild.general);
    let (a, b) = tokio::join!(s.provider.send_text(&general, "two", &none), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.provider.send_text(&chat(other), "three", &none).await
    });
    a.unwrap();
    b.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.fake.rate_limited(&s.token), 2);
    assert_eq!(
        s.fake.early_retries(&s.token),
        0,
        "{:?}",
        s.fake.requests(&s.token)
    );
    assert_eq!(s.fake.sent().len(), 3);
}

#[tokio::test]
async fn buckets_are_kept_before_discord_has_to_say_429() {
    let s = setup().await;
    let guild = s.fake.add_guild(&s.token, "Fleet HQ");
    s.fake.set_message_limit(2, Duration::from_millis(1500));
    let none = TextOptions::default();
    let started = Instant::now();
    for i in 0..5 {
        s.provider
            .send_text(&chat(guild.general), &format!("m{i}"), &none)
            .await
            .unwrap();
    }
    // 2 + 2 + 1: two windows waited out, no 429 asked for.
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.fake.rate_limited(&s.token), 0);
    let texts: Vec<_> = s.fake.sent().into_iter().map(|m| m.content).collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn a_long_rate_limit_is_given_back() {
    let s = setup().await;
    let guild = s.fake.add_guild(&s.token, "Fleet HQ");
    s.fake
        .rate_limit(&s.token, Scope::User, Duration::from_secs(45), 1);
    let started = Instant::now();
    let err = s
        .provider
        .send_text(&chat(guild.general), "late", &TextOptions::default())
        .await
        .unwrap_err();
    let SendError::RateLimited { retry_after, .. } = err else {
        panic!("{err:?}")
    };
    assert!(retry_after >= Duration::from_secs(44), "{retry_after:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // The next send knows the bucket is held and gives it back without asking Discord.
    let requests = s.fake.requests(&s.token).len();
    let err = s
        .provider
        .send_text(&chat(guild.general), "later", &TextOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::RateLimited { .. }));
    assert_eq!(s.fake.requests(&s.token).len(), requests);
}

#[tokio::test]
async fn a_dropped_socket_resumes_without_losing_a_message() {
    let s = setup().await;
    let dm = s.fake.open_dm(&s.token, "Linus");
    let (recorder, _task) = receiving(&s).await;
    s.fake.push_message(dm.channel_id, "before");
    recorder.wait_messages(1).await;

    assert_eq!(s.fake.drop_socket(&s.token), 1);
    // Pushed while the bot is away: replayed on RESUME.
    s.fake.push_message(dm.channel_id, "while away");
    let messages = recorder.wait_messages(2).await;
    let texts: Vec<_> = messages.iter().filter_map(|m| m.text.clone()).collect();
    assert_eq!(texts, ["before", "while away"]);
    assert_eq!(s.fake.resumes(&s.token), 1);
    assert_eq!(s.fake.identifies(&s.token), 1);
    assert_eq!(
        s.fake.resume_connections(&s.token),
        1,
        "RESUME goes to resume_gateway_url"
    );
    let troubles = recorder.troubles.lock().unwrap().clone();
    assert_eq!(troubles.len(), 1, "{troubles:?}");
    assert!(troubles[0].1);
    assert!(
        s.fake
            .wait_until(Duration::from_secs(5), |_| !recorder
                .recovered
                .lock()
                .unwrap()
                .is_empty())
            .await
    );
    assert_eq!(*recorder.recovered.lock().unwrap(), [1]);

    // And it goes on receiving.
    s.fake.push_message(dm.channel_id, "after");
    assert_eq!(recorder.wait_messages(3).await.len(), 3);
}

#[tokio::test]
async fn invalid_session_identifies_anew() {
    let s = setup().await;
    let dm = s.fake.open_dm(&s.token, "Barbara");
    let (recorder, _task) = receiving(&s).await;
    assert_eq!(s.fake.invalidate_session(&s.token, false), 1);
    // twilight waits out its identify queue (5 s between identifies) before the new IDENTIFY.
    assert!(
        s.fake
            .wait_until(Duration::from_secs(15), |f| f.identifies(&s.token) == 2
                && f.live_sessions(&s.token) == 1)
            .await,
        "no new IDENTIFY after INVALID_SESSION"
    );
    assert_eq!(s.fake.resumes(&s.token), 0);
    s.fake.push_message(dm.channel_id, "new session");
    let messages = recorder.wait_messages(1).await;
    assert_eq!(messages[0].text.as_deref(), Some("new session"));
    assert!(
        s.fake
            .wait_until(Duration::from_secs(5), |_| !recorder
                .recovered
                .lock()
                .unwrap()
                .is_empty())
            .await
    );
}

#[tokio::test]
async fn heartbeats_are_acknowledged_and_keep_the_bot_alive() {
    let s = setup().await;
    s.fake.set_heartbeat_interval(Duration::from_millis(250));
    let (recorder, _task) = receiving(&s).await;
    let before = recorder.alive.load(Ordering::SeqCst);
    assert!(
        s.fake
            .wait_until(Duration::from_secs(5), |f| f.heartbeats(&s.token) >= 3)
            .await
    );
    // Each acknowledgement reaches the worker a moment after the fake counted the heartbeat.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while recorder.alive.load(Ordering::SeqCst) < before + 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} signs of life after 3 acknowledged heartbeats",
            recorder.alive.load(Ordering::SeqCst) - before
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(recorder.troubles.lock().unwrap().is_empty());
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The fake is faithful to the shapes of Discord's API as twilight (a well-kept model of it) reads
/// them: READY, GUILD_CREATE and MESSAGE_CREATE off the gateway, the user, channels and messages off REST.
#[tokio::test]
async fn the_fakes_payloads_are_discords_shapes() {
    use futures::StreamExt;
    use twilight_gateway::{ConfigBuilder, EventTypeFlags, Intents, Shard, ShardId};
    use twilight_model::gateway::event::{DispatchEvent, GatewayEvent};
    use twilight_model::gateway::payload::incoming::GuildCreate;

    let s = setup().await;
    let guild = s.fake.add_guild(&s.token, "Fleet HQ");
    let dm = s.fake.open_dm(&s.token, "Ada");
    let config = ConfigBuilder::new(
        s.token.clone(),
        Intents::GUILDS
            | Intents::GUILD_MESSAGES
            | Intents::DIRECT_MESSAGES
            | Intents::MESSAGE_CONTENT,
    )
    .proxy_url(format!("ws://{}", s.addr))
    .build();
    let mut shard = Shard::with_config(ShardId::ONE, config);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 4 && Instant::now() < deadline {
        let Ok(Some(Ok(twilight_gateway::Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(5), shard.next()).await
        else {
            continue;
        };
        let event = twilight_gateway::parse(text.clone(), EventTypeFlags::all())
            .unwrap_or_else(|e| panic!("{e}: {text}"));
        match event {
            Some(GatewayEvent::Dispatch(_, DispatchEvent::Ready(ready))) => {
                assert_eq!(ready.user.id.get(), s.fake.bot_id(&s.token).unwrap());
                assert_eq!(ready.guilds.len(), 1);
                seen.push("READY");
            }
            Some(GatewayEvent::Dispatch(_, DispatchEvent::GuildCreate(g))) => {
                let GuildCreate::Available(g) = *g else {
                    panic!("unavailable")
                };
                assert_eq!(g.name, "Fleet HQ");
                assert_eq!(g.channels[0].id.get(), guild.general);
                seen.push("GUILD_CREATE");
                s.fake.push_message(guild.general, "in the guild");
                s.fake.push_message(dm.channel_id, "in private");
            }
            Some(GatewayEvent::Dispatch(_, DispatchEvent::MessageCreate(m))) => {
                assert!(m.content.starts_with("in "));
                assert_eq!(m.guild_id.is_some(), m.channel_id.get() == guild.general);
                seen.push("MESSAGE_CREATE");
            }
            _ => {}
        }
    }
    assert_eq!(
        seen,
        ["READY", "GUILD_CREATE", "MESSAGE_CREATE", "MESSAGE_CREATE"]
    );

    let http = reqwest::Client::new();
    let api = |path: &str| format!("http://{}/api/v10/{path}", s.addr);
    let auth = format!("Bot {}", s.token);
    let me: twilight_model::user::CurrentUser = http
        .get(api("users/@me"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.name, "fleetbot");
    for id in [guild.general, dm.channel_id] {
        let channel: twilight_model::channel::Channel = http
            .get(api(&format!("channels/{id}")))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(channel.id.get(), id);
    }
    let form = reqwest::multipart::Form::new()
        .text(
            "payload_json",
            r#"{"content":"file","attachments":[{"id":0,"filename":"a.txt"}]}"#,
        )
        .part(
            "files[0]",
            reqwest::multipart::Part::bytes(b"hello".to_vec())
                .file_name("a.txt")
                .mime_str("text/plain")
                .unwrap(),
        );
    let message: twilight_model::channel::Message = http
        .post(api(&format!("channels/{}/messages", guild.general)))
        .header("authorization", &auth)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(message.attachments[0].filename, "a.txt");
    assert_eq!(message.attachments[0].size, 5);
    let gateway: twilight_model::gateway::connection_info::BotConnectionInfo = http
        .get(api("gateway/bot"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gateway.shards, 1);
    let refused = http
        .get(api("users/@me"))
        .header("authorization", "Bot nope")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}
