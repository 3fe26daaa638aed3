//! The dashboard (`/ui`, issue #15) in a real headless Chromium (Debian's, through chromedriver): a user
//! signs in, sees the overview, creates a bot against the fake Telegram (a refused token shown inline
//! first), watches it turn ready, stops it, finds it in the table; another user sees none of it. A
//! screenshot of each page lands in `target/screenshots/dashboard/`.

use std::time::Duration;

use botfleet_tests::{
    browser::Browser,
    dashboard::{add_user, sign_in, sign_out},
    harness::{self, Manager, ManagerOptions},
};
use serde_json::json;

const TEST: &str = "dashboard";

/// Waits until the bot page's status line shows `status` (the page polls it every second).
async fn wait_status(browser: &Browser, status: &str) {
    browser
        .wait_for(
            &format!("#status-line [data-status='{status}']"),
            Duration::from_secs(45),
        )
        .await;
}

const WAIT: Duration = Duration::from_secs(15);

/// Waits until the element matching `css` shows `text`.
async fn wait_text(browser: &Browser, css: &str, text: &str) {
    browser.wait_text(css, text, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_creates_a_bot_watches_it_get_ready_and_stops_it() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_960_001, "dashboard_bot");
    let mut options = ManagerOptions::new(&tg_url).await;
    // Chromium aborts its requests when the host's network interfaces change (ERR_NETWORK_CHANGED),
    // as a bridged container's start or stop does: this test's workers share the host's network, and
    // `scripts/test` runs the browser tests in a phase of their own.
    options.env.push(("BOTFLEET_NETWORK".into(), "host".into()));
    let m = Manager::spawn(options);
    add_user(&m, "ann", "user").await;
    add_user(&m, "bob", "user").await;
    let browser = Browser::start().await;

    // A wrong password is said so, on the form.
    browser.goto(&m.url("/ui")).await;
    browser.fill("#username", "ann").await;
    browser.fill("#password", "not-her-password").await;
    browser
        .click("form[action='/ui/login'] button[type=submit]")
        .await;
    assert_eq!(
        browser.text_of("#login-error").await,
        "Wrong username or password."
    );
    browser.assert_usable().await;
    browser.screenshot(TEST, "login").await;

    sign_in(&browser, &m, "ann").await;
    assert_eq!(browser.text_of("#card-active-bots .value").await, "0 / 0");
    assert_eq!(browser.text_of("#card-health .value").await, "Healthy");
    browser.assert_usable().await;
    browser.screenshot(TEST, "overview-empty").await;

    // A token Telegram would never issue is refused at its field.
    browser.goto(&m.url("/ui/bots/new?provider=telegram")).await;
    browser.fill("#cred-token", "not-a-token").await;
    browser.fill("#system_prompt", "Be brief.").await;
    browser.click("#create-form button[type=submit]").await;
    let error = browser.text_of("#form-error").await;
    assert!(error.contains("token"), "{error}");
    browser
        .wait_for("#cred-token[aria-invalid='true']", WAIT)
        .await;
    // What was typed stays (but the secret field).
    assert_eq!(
        browser
            .wait_for("#system_prompt", WAIT)
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Be brief.")
    );
    browser.assert_usable().await;
    browser.screenshot(TEST, "new-bot-refused").await;

    // The real token: the bot is created, its key shown once, and the page follows it until ready.
    browser.fill("#cred-token", &token).await;
    browser.click("#create-form button[type=submit]").await;
    let key = browser.text_of("#new-api-key").await;
    assert!(key.starts_with("bfk_"), "{key}");
    wait_status(&browser, "running").await;
    let reason = browser.text_of("#status-line").await;
    assert!(reason.contains("auth: client_ready"), "{reason}");
    // Its log is followed live on its page.
    wait_text(&browser, "#logs", "listening").await;
    browser.assert_usable().await;
    browser.screenshot(TEST, "bot-ready").await;
    let bot_url = browser.current_url().await;
    let bot_id = bot_url.rsplit('/').next().unwrap().to_string();
    // The key is not in the address, and not shown again.
    assert!(!bot_url.contains(&key), "{bot_url}");
    browser.goto(&m.url("/ui/bots")).await;
    let row = browser.text_of("#bots tbody tr").await;
    assert!(row.contains("running"), "{row}");
    assert!(!browser.client().source().await.unwrap().contains(&key));

    // Send a message through the bot from its page: it reaches Telegram; a wrong chat is named.
    browser.click("#bots tbody tr a").await;
    browser.fill("#send-chatId", "not a chat").await;
    browser
        .fill("#send-message", "hello from the dashboard")
        .await;
    browser.click("#send-form button[type=submit]").await;
    browser
        .wait_for("#send-chatId[aria-invalid='true']", WAIT)
        .await;
    assert!(browser.text_of("#send-result").await.contains("chatId"));
    browser.fill("#send-chatId", "4242").await;
    browser.click("#send-form button[type=submit]").await;
    wait_text(&browser, "#send-result", "Sent").await;
    tg.wait_sent(&token, 4242, "hello from the dashboard").await;
    browser.assert_usable().await;
    browser.screenshot(TEST, "bot-sent").await;

    // A new key, shown this once; the old one stops working at the bot's own API.
    browser.click("#rotate-key").await;
    let rotated = browser.text_of("#new-api-key").await;
    assert!(rotated.starts_with("bfk_") && rotated != key, "{rotated}");
    let (_, credentials) = m
        .get(&format!("/api/v1/instances/{bot_id}/credentials"))
        .await;
    let status_url = format!("{}/status", credentials["api_url"].as_str().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let http = reqwest::Client::new();
        let new = harness::send(http.get(&status_url).bearer_auth(&rotated))
            .await
            .0;
        let old = harness::send(http.get(&status_url).bearer_auth(&key))
            .await
            .0;
        if (new, old) == (200, 401) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new key {new}, old key {old}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_status(&browser, "running").await;

    // Stop it from its page.
    browser.click("#verb-stop").await;
    wait_status(&browser, "stopped").await;
    browser.assert_usable().await;
    browser.screenshot(TEST, "bot-stopped").await;
    let timeline = browser.text_of("#timeline").await;
    assert!(
        timeline.contains("stopped") && timeline.contains("running"),
        "{timeline}"
    );

    // The table: searchable, filterable, and usable at phone width.
    browser
        .goto(&m.url("/ui/bots?status=stopped&q=telegram"))
        .await;
    assert!(
        browser.text_of("#page-info").await.ends_with("1 bots"),
        "the stopped bot is found"
    );
    browser.assert_usable().await;
    browser.screenshot(TEST, "bots").await;
    browser.set_phone_width().await;
    browser.assert_fits_width().await;
    browser.assert_usable().await;
    browser.screenshot(TEST, "bots-phone").await;
    browser.set_desktop_width().await;
    browser.goto(&m.url("/ui/bots?status=running")).await;
    assert!(browser.text_of("#page-info").await.ends_with("0 bots"));

    // Recent Activity is live: a start made elsewhere (the API) shows up without a reload.
    browser.goto(&m.url("/ui")).await;
    browser.wait_for("#activity", WAIT).await;
    let before = browser.text_of("#activity").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = m
        .post(&format!("/api/v1/instances/{bot_id}/start"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = browser.text_of("#activity").await;
        if now != before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no live activity: {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.assert_usable().await;
    browser.screenshot(TEST, "overview").await;

    // Another user sees none of it: not in the table, not its page.
    browser.goto(&m.url("/ui")).await;
    sign_out(&browser).await;
    // With the keyboard alone: the sign-in form has the focus, takes Tab and Enter; on the next page
    // the first Tab reaches the skip link, and Enter takes the focus to the content.
    browser.goto(&m.url("/ui/login")).await;
    browser.wait_for("#username", WAIT).await;
    assert_eq!(browser.press("bob\t").await, "password");
    browser
        .press(&format!("{}\n", botfleet_tests::dashboard::password("bob")))
        .await;
    browser.wait_for("#card-active-bots", WAIT).await;
    browser.press("\t").await;
    let focused = browser.client().active_element().await.unwrap();
    assert_eq!(
        focused.attr("href").await.unwrap().as_deref(),
        Some("#main"),
        "the first Tab reaches the skip link"
    );
    assert_eq!(browser.press("\n").await, "main");
    assert_eq!(browser.text_of("#card-active-bots .value").await, "0 / 0");
    browser.goto(&m.url("/ui/bots")).await;
    assert!(browser.text_of("#page-info").await.ends_with("0 bots"));
    browser.goto(&bot_url).await;
    let refused = browser.text_of("p[role=alert]").await;
    assert!(refused.contains("not found"), "{refused}");
    browser.assert_usable().await;
    browser.screenshot(TEST, "other-user").await;
    browser.close().await;

    // The sign-ins went through the API's own login: audited with the browser's address (so its
    // per-address limit applies to the dashboard too).
    let (_, audit) = m.get("/api/v1/audit?limit=100").await;
    let logins: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "/api/v1/auth/login")
        .collect();
    assert!(logins.len() >= 3, "{audit}");
    assert!(
        logins
            .iter()
            .all(|e| e["remote_addr"].as_str() == Some("127.0.0.1")),
        "{audit}"
    );
}
