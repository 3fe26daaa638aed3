//! `POST /api/v1/send/media`: photos, documents, audio and video by URL (JSON) or uploaded (multipart),
//! through the real worker to the fake Telegram, which parses teloxide's multipart requests.

use botfleet_tests::{
    fake_telegram::MediaSource,
    harness::{self, Created, Manager, ManagerOptions, send},
};
use reqwest::multipart::{Form, Part};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn media_goes_out_by_url_and_by_upload() {
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let token = fake.add_bot(1_800_001, "media_bot");
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);
    let c = Created::from_body(&m.create_settled("media", &token).await);
    let client = reqwest::Client::new();
    let url = format!("{}/send/media", c.worker_url);

    // Every kind by URL, with a caption on the photo.
    for (i, kind) in ["photo", "document", "audio", "video"]
        .into_iter()
        .enumerate()
    {
        let mut body = json!({"chatId": 500 + i, "type": kind, "url": format!("https://files.example/{kind}.bin")});
        if kind == "photo" {
            body["caption"] = json!("<b>look</b>");
            body["parseMode"] = json!("HTML");
        }
        let (status, sent) = send(client.post(&url).bearer_auth(&c.api_key).json(&body)).await;
        assert_eq!(status, 200, "{kind}: {sent}");
        assert!(sent["messageId"].as_str().unwrap().parse::<i64>().is_ok());
    }
    let media = fake.media();
    assert_eq!(media.len(), 4);
    for (i, kind) in ["photo", "document", "audio", "video"]
        .into_iter()
        .enumerate()
    {
        let m = &media[i];
        assert_eq!(m.kind, kind);
        assert_eq!(m.chat_id, json!(500 + i as i64));
        match &m.source {
            MediaSource::Url(u) => assert_eq!(u, &format!("https://files.example/{kind}.bin")),
            other => panic!("{kind} should go by URL, went as {other:?}"),
        }
    }
    assert_eq!(media[0].caption.as_deref(), Some("<b>look</b>"));

    // An upload: the bytes and the file name reach Telegram unchanged.
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let form = Form::new()
        .text("chatId", "777")
        .text("type", "document")
        .text("caption", "report")
        .part("file", Part::bytes(bytes.clone()).file_name("report.pdf"));
    let (status, sent) = send(client.post(&url).bearer_auth(&c.api_key).multipart(form)).await;
    assert_eq!(status, 200, "{sent}");
    let last = fake.media().pop().unwrap();
    assert_eq!(last.chat_id, json!(777));
    assert_eq!(last.caption.as_deref(), Some("report"));
    match last.source {
        MediaSource::Upload(u) => {
            assert_eq!(u.file_name, "report.pdf");
            assert_eq!(u.bytes, bytes, "the upload arrived altered");
        }
        other => panic!("expected an upload, got {other:?}"),
    }

    // Bad input: the field at fault, never a 500.
    for (body, field) in [
        (
            json!({"chatId": 1, "type": "sticker", "url": "https://x.example/a"}),
            "type",
        ),
        (json!({"chatId": 1, "type": "photo"}), "url"),
        (
            json!({"chatId": 1, "type": "photo", "url": "file:///etc/passwd"}),
            "url",
        ),
        (
            json!({"type": "photo", "url": "https://x.example/a"}),
            "chatId",
        ),
        (
            json!({"chatId": 1, "type": "photo", "url": "https://x.example/a", "caption": "c".repeat(1025)}),
            "caption",
        ),
    ] {
        let (status, err) = send(client.post(&url).bearer_auth(&c.api_key).json(&body)).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["field"], field, "{err}");
    }
    let (status, _) = send(client.post(&url).bearer_auth(&c.api_key).body("x")).await;
    assert_eq!(status, 400, "no content type");
    let too_big = Form::new()
        .text("chatId", "1")
        .text("type", "document")
        .part(
            "file",
            Part::bytes(vec![0u8; 21 * 1024 * 1024]).file_name("big.bin"),
        );
    // On a client of its own: the worker answers 413 without reading the rest and closes the connection,
    // which a pooled connection of the main client would trip over.
    let (status, err) = send(
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(&c.api_key)
            .multipart(too_big),
    )
    .await;
    assert_eq!(status, 413, "{err}");
    let (status, err) = send(
        client
            .post(&url)
            .bearer_auth(&c.api_key)
            .json(&json!({"chatId": 400, "type": "photo", "url": "https://x.example/a"})),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("provider_refused")),
        "Telegram's refusal is passed on: {err}"
    );
    assert!(err["error"].as_str().unwrap().contains("chat not found"));
    let (status, _) = send(client.post(&url).json(&json!({}))).await;
    assert_eq!(status, 401);
}
