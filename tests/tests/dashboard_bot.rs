//! A bot's page in the dashboard (issue #15), in a real headless Chromium: its configuration edited
//! with the API's refusal shown at the field, the agent asked from the page, the webhook set (its
//! generated secret shown once), a delivery that died replayed from the page, and the table's CPU and
//! memory figures. Screenshots land in `target/screenshots/dashboard_bot/`.

use std::time::Duration;

use botfleet_tests::{
    browser::Browser,
    dashboard::sign_in_with_key,
    fake_agent::FakeAgent,
    fake_webhook::FakeWebhook,
    harness::{self, Manager, ManagerOptions},
};

const TEST: &str = "dashboard_bot";
const WAIT: Duration = Duration::from_secs(20);

/// Opens the bot's page again (a fresh read of its sections) at `anchor`. (A query that changes makes
/// it a load: the same address but for its `#anchor` would only scroll.)
async fn reopen(browser: &Browser, m: &Manager, id: &str, anchor: &str) {
    let load = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    browser
        .goto(&m.url(&format!("/ui/bots/{id}?load={load}#{anchor}")))
        .await;
    browser.wait_for("#live", WAIT).await;
}

/// Reopens the bot's page until its deliveries table shows a delivery in `status`.
async fn wait_delivery(browser: &Browser, m: &Manager, id: &str, status: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        reopen(browser, m, id, "webhook").await;
        if browser
            .exists(&format!("#deliveries [data-status='{status}']"))
            .await
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {status} delivery listed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_is_configured_asked_and_its_webhook_deliveries_replayed_from_its_page() {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_960_101, "page_bot");
    let (agent, agent_addr) = FakeAgent::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (hook, hook_url) = FakeWebhook::start().await;
    let mut options = ManagerOptions::new(&tg_url).await;
    // See `dashboard.rs`: Chromium aborts requests when bridged containers come and go.
    options.env.extend([
        ("BOTFLEET_NETWORK".into(), "host".into()),
        // One failed attempt makes a delivery dead, to be replayed.
        ("BOTFLEET_WEBHOOK_MAX_ATTEMPTS".into(), "1".into()),
        ("BOTFLEET_WEBHOOK_BACKOFF_MS".into(), "100".into()),
        ("BOTFLEET_SAMPLE_INTERVAL_SECS".into(), "1".into()),
    ]);
    let m = Manager::spawn(options);
    let (status, created) = m
        .post(
            "/api/v1/instances?wait=true&timeout=45",
            &harness::create_body("page-owner", &token),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["instance_id"].as_str().unwrap().to_string();

    // An admin signs in with their API key.
    let browser = Browser::start().await;
    sign_in_with_key(&browser, &m, &m.options.admin_key).await;

    // No agent yet: asking says so.
    reopen(&browser, &m, &id, "try").await;
    browser.wait_for("#agent-none", WAIT).await;
    browser.fill("#agent-message", "hello?").await;
    browser.click("#agent-form button[type=submit]").await;
    let said = browser.wait_text("#agent-result", "agent", WAIT).await;
    assert!(said.contains("no enabled agent"), "{said}");

    // The configuration: a URL the API refuses is shown at its field, with what was typed.
    browser.fill("#config-llm_url", "ftp://agent.example").await;
    browser.fill("#config-system_prompt", "Be kind.").await;
    browser.click("#config-save").await;
    browser
        .wait_for("#config-llm_url[aria-invalid='true']", WAIT)
        .await;
    let error = browser.text_of("#config-llm_url-error").await;
    assert!(error.contains("http"), "{error}");
    let typed = browser
        .wait_for("#config-system_prompt", WAIT)
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(typed.as_deref(), Some("Be kind."));
    browser.assert_usable().await;
    browser.screenshot(TEST, "config-refused").await;

    // Then a good one: a webhook agent with a key, saved and applied.
    let agent_url = format!("http://{agent_addr}/webhook");
    browser.fill("#config-llm_url", &agent_url).await;
    browser.select("#config-llm_provider", "webhook").await;
    browser
        .fill("#config-llm_api_key", "sk-dashboard-secret-1")
        .await;
    browser.click("#config-save").await;
    browser.wait_text("#config-result", "Saved", WAIT).await;
    let (_, shown) = m.get(&format!("/api/v1/instances/{id}")).await;
    let config = &shown["instance"]["config"];
    assert_eq!(config["system_prompt"], "Be kind.", "{config}");
    assert_eq!(config["llm_provider"], "webhook", "{config}");
    assert_eq!(config["llm_url"], agent_url.as_str(), "{config}");
    assert_eq!(config["has_llm_api_key"], true, "{config}");
    // The key is never rendered, not even back into its box.
    assert!(!browser.source().await.contains("sk-dashboard-secret-1"));
    assert!(
        browser
            .text_of("#config-llm_api_key-hint")
            .await
            .contains("A key is set")
    );
    let (_, history) = m
        .get(&format!("/api/v1/instances/{id}/settings/history"))
        .await;
    assert!(
        history.to_string().contains("system_prompt"),
        "the change is in the settings history: {history}"
    );

    // The agent answers from the page.
    browser.fill("#agent-message", "ping").await;
    browser.click("#agent-form button[type=submit]").await;
    let answer = browser
        .wait_text("#agent-result", "webhook: ping", WAIT)
        .await;
    assert!(answer.contains(" ms"), "{answer}");
    assert!(agent.calls().iter().any(|c| c.message == "ping"));
    browser.assert_usable().await;
    browser.screenshot(TEST, "agent-answered").await;

    // The webhook: a bad URL is named; then one that fails, for `message.out` only, whose generated
    // secret is shown this once.
    browser.fill("#webhook-url", "not a url").await;
    browser.click("#webhook-save").await;
    browser
        .wait_for("#webhook-url[aria-invalid='true']", WAIT)
        .await;
    hook.set_failing(true);
    browser.fill("#webhook-url", &hook_url).await;
    browser
        .click("input[name=events][value='message.out']")
        .await;
    browser.click("#webhook-save").await;
    browser
        .wait_text("#webhook-result", "Webhook saved", WAIT)
        .await;
    let secret = browser.text_of("#webhook-secret").await;
    assert!(secret.len() >= 16, "{secret}");
    reopen(&browser, &m, &id, "webhook").await;
    assert!(!browser.source().await.contains(&secret), "shown once only");
    browser.wait_text("#webhook-state", "signed", WAIT).await;

    // A message sent from the page is a `message.out` event: its delivery dies, and is replayed.
    browser.fill("#send-chatId", "4243").await;
    browser.fill("#send-message", "to the webhook").await;
    browser.click("#send-form button[type=submit]").await;
    browser.wait_text("#send-result", "Sent", WAIT).await;
    wait_delivery(&browser, &m, &id, "dead").await;
    browser.assert_usable().await;
    browser.screenshot(TEST, "webhook-dead").await;
    hook.set_failing(false);
    browser.click("#replay-dead").await;
    browser
        .wait_text("#webhook-result", "queued again", WAIT)
        .await;
    wait_delivery(&browser, &m, &id, "delivered").await;
    let delivered = hook.accepted("message.out");
    assert_eq!(delivered.len(), 1, "one delivery accepted");
    assert!(delivered[0].signed_with(&secret));
    browser.assert_usable().await;
    browser.screenshot(TEST, "webhook-replayed").await;

    // The table shows the bot's CPU and memory from the latest sample.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        browser.goto(&m.url("/ui/bots")).await;
        let memory = browser.text_of("#bots tbody tr td.memory").await;
        if memory.ends_with("MB") {
            assert!(
                browser
                    .text_of("#bots tbody tr td.cpu")
                    .await
                    .ends_with('%')
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no memory figure: {memory}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    browser.assert_usable().await;
    browser.screenshot(TEST, "bots-with-usage").await;
    reopen(&browser, &m, &id, "facts").await;
    assert!(browser.text_of("#bot-memory").await.contains("MB"));
    // At phone width nothing is wider than the screen but the tables, which scroll in their frame.
    browser.set_phone_width().await;
    reopen(&browser, &m, &id, "main").await;
    browser.assert_fits_width().await;
    browser.assert_usable().await;
    browser.screenshot(TEST, "bot-phone").await;
    browser.close().await;
}
