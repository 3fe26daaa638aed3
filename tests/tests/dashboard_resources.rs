//! The dashboard's Resources page (`/ui/resources`, issue #15) in a real headless Chromium: an admin sees
//! the host's and a bot's charts drawn from the kept samples, creates a threshold through the form (a
//! value that is no number refused at its field first), watches the alert it raises appear without a
//! reload (the page fetches its alerts again every few seconds) and resolves it with its button; a user
//! gets a page saying resources are for operators and admins. Screenshots land in
//! `target/screenshots/dashboard_resources/`.

use std::time::{Duration, Instant};

use botfleet_tests::{
    browser::Browser,
    dashboard::{add_user, sign_in, sign_out},
    harness::{self, Manager, ManagerOptions},
};
use fantoccini::Locator;
use serde_json::json;

const TEST: &str = "dashboard_resources";
const WAIT: Duration = Duration::from_secs(15);

/// How many of its points the chart's first line draws (its `data-points`).
async fn points(browser: &Browser, chart: &str) -> u64 {
    let found = browser
        .client()
        .find_all(Locator::Css(&format!("#{chart} path.series")))
        .await
        .expect("find the chart's lines");
    match found.first() {
        Some(line) => line
            .attr("data-points")
            .await
            .ok()
            .flatten()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
        None => 0,
    }
}

/// Waits until the page's address contains `part` (a form's answer has arrived).
async fn wait_url(browser: &Browser, part: &str) {
    let deadline = Instant::now() + WAIT;
    while !browser.current_url().await.contains(part) {
        assert!(
            Instant::now() < deadline,
            "never at {part}: {}",
            browser.current_url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_watches_an_alert_fire_resolves_it_and_deletes_its_threshold_a_user_is_told_resources_are_for_operators()
 {
    let (tg, tg_url) = harness::start_fake_telegram().await;
    let token = tg.add_bot(1_970_001, "resources_bot");
    let mut options = ManagerOptions::new(&tg_url).await;
    // A sample (and the alerts' evaluation) every second.
    options
        .env
        .push(("BOTFLEET_SAMPLE_INTERVAL_SECS".into(), "1".into()));
    // As in tests/tests/dashboard.rs: no bridged container starts under Chromium's feet.
    options.env.push(("BOTFLEET_NETWORK".into(), "host".into()));
    let m = Manager::spawn(options);
    add_user(&m, "ada", "admin").await;
    add_user(&m, "bob", "user").await;
    let created = m.create_settled("bob", &token).await;
    let bot_id = created["instance_id"].as_str().unwrap().to_string();
    let browser = Browser::start().await;

    sign_in(&browser, &m, "ada").await;
    browser.click("nav a[href='/ui/resources']").await;
    browser.wait_for("#host-now", WAIT).await;
    assert_eq!(
        browser
            .wait_for("nav a[aria-current=page]", WAIT)
            .await
            .text()
            .await
            .unwrap(),
        "Resources"
    );

    // The charts draw the kept samples: the host's, and the running bot's (a sample a second).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        browser.goto(&m.url("/ui/resources?window=15m")).await;
        let (cpu, memory, bot) = (
            points(&browser, "chart-host-cpu").await,
            points(&browser, "chart-host-memory").await,
            points(&browser, "chart-bots-memory").await,
        );
        if cpu >= 3 && memory >= 3 && bot >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "charts not drawn: {cpu} {memory} {bot}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let host_chart = browser.wait_for("#chart-host-cpu", WAIT).await;
    assert_eq!(
        host_chart.attr("role").await.unwrap().as_deref(),
        Some("img")
    );
    // Its description (`desc`, not drawn) says the latest, lowest and highest values.
    let described = browser
        .client()
        .execute(
            "return document.getElementById('chart-host-cpu-desc').textContent;",
            vec![],
        )
        .await
        .unwrap();
    let described = described.as_str().unwrap_or_default();
    assert!(described.contains("Host CPU: latest"), "{described}");
    let legend = browser.text_of("#bots-legend").await;
    assert!(legend.contains("1 of 1 running bots"), "{legend}");
    browser
        .wait_for(&format!("#bots-legend a[href='/ui/bots/{bot_id}']"), WAIT)
        .await;
    assert!(
        browser.text_of("#ports-used").await.starts_with("1 "),
        "one port used by the bot"
    );
    let hosts = browser.text_of("#hosts-table tbody").await;
    assert!(hosts.contains("this manager"), "{hosts}");
    assert_eq!(browser.text_of("#alerts-none").await, "No active alerts.");
    browser.assert_usable().await;
    browser.screenshot(TEST, "resources").await;

    // A threshold whose value is no number is refused at that field, what was typed kept.
    let metric = browser.wait_for("#th-metric_type", WAIT).await;
    metric.select_by_value("memory").await.unwrap();
    browser.fill("#th-threshold_value", "lots").await;
    browser.click("#threshold-form button[type=submit]").await;
    browser
        .wait_for("#th-threshold_value[aria-invalid='true']", WAIT)
        .await;
    let error = browser.text_of("#th-threshold_value-error").await;
    assert!(error.contains("threshold_value"), "{error}");
    let said = browser.text_of("#threshold-error").await;
    assert!(said.contains("not created"), "{said}");
    assert_eq!(
        browser
            .wait_for("#th-metric_type", WAIT)
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("memory")
    );
    // The refused control has the focus (and the page scrolled to it).
    let focused = browser
        .client()
        .execute("return document.activeElement.id;", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "th-threshold_value");
    browser.assert_usable().await;
    browser.screenshot(TEST, "threshold-refused").await;

    // Host memory above 0.1 % holds on any machine: the threshold raises an alert at the next sample,
    // and it appears on the page without a reload.
    browser.fill("#th-threshold_value", "0.1").await;
    browser.click("#threshold-form button[type=submit]").await;
    wait_url(&browser, "created=").await;
    let notice = browser.text_of("#notice").await;
    assert!(
        notice.contains("Threshold created: host memory > 0.1"),
        "{notice}"
    );
    let thresholds = browser.text_of("#thresholds-table").await;
    assert!(
        thresholds.contains("Memory (% of the host's)"),
        "{thresholds}"
    );
    browser
        .client()
        .execute("window.stillTheSamePage = true;", vec![])
        .await
        .unwrap();
    let row = browser
        .wait_for("#alerts-active tbody tr", Duration::from_secs(30))
        .await;
    let alert_id = row.attr("data-id").await.unwrap().unwrap();
    let still = browser
        .client()
        .execute("return window.stillTheSamePage === true;", vec![])
        .await
        .unwrap();
    assert_eq!(still, true, "the alert appeared by a reload");
    let shown = browser.text_of("#alerts-active").await;
    assert!(
        shown.contains("host") && shown.contains("memory") && shown.contains("> 0.10"),
        "{shown}"
    );
    // Said to screen readers (a live region, visually hidden).
    let announced = browser
        .client()
        .execute(
            "return document.getElementById('alerts-announce').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(announced, "1 active alert");
    browser
        .client()
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();
    browser.assert_usable().await;
    browser.screenshot(TEST, "alert-fired").await;
    // The README's picture: the host now, the alert and the charts.
    browser.set_viewport((1280, 1450)).await;
    browser.screenshot(TEST, "readme").await;
    browser.set_desktop_width().await;

    // Resolved with its button: it leaves the active list for the resolved one. (The threshold still
    // holds, so the next sample raises a new alert: another id.)
    browser.click(&format!("#resolve-{alert_id}")).await;
    wait_url(&browser, "resolved=").await;
    let notice = browser.text_of("#notice").await;
    assert!(notice.contains("resolved"), "{notice}");
    browser
        .wait_for(&format!("#alerts-resolved tr[data-id='{alert_id}']"), WAIT)
        .await;
    assert!(
        !browser
            .exists(&format!("#alerts-active tr[data-id='{alert_id}']"))
            .await
    );
    let (_, resolved) = m.get("/api/v1/alerts?status=resolved").await;
    let alert = resolved["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == alert_id.as_str())
        .unwrap_or_else(|| panic!("{alert_id} not resolved: {resolved}"));
    assert!(alert["resolved_at"].is_string(), "{alert}");
    browser.assert_usable().await;
    browser.screenshot(TEST, "alert-resolved").await;
    // The whole page, for a look.
    browser.set_viewport((1280, 3400)).await;
    browser.screenshot(TEST, "resources-full").await;
    browser.set_desktop_width().await;

    // Resolving it again is refused, said on the page.
    let (status, _) = m
        .post(&format!("/api/v1/alerts/{alert_id}/resolve"), &json!({}))
        .await;
    assert_eq!(status, 409);

    // Readable at phone width: the charts scale, tables scroll in their frames.
    browser.set_phone_width().await;
    browser.goto(&m.url("/ui/resources")).await;
    browser.wait_for("#chart-host-cpu", WAIT).await;
    browser.assert_fits_width().await;
    browser.assert_usable().await;
    browser.screenshot(TEST, "resources-phone").await;
    browser
        .client()
        .execute(
            "document.getElementById('chart-host-cpu').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    browser.screenshot(TEST, "resources-phone-charts").await;
    browser.set_desktop_width().await;

    // A user: the page says who sees resources, with the API's refusal; nothing of the host.
    sign_out(&browser).await;
    sign_in(&browser, &m, "bob").await;
    browser.click("nav a[href='/ui/resources']").await;
    let said = browser.text_of("#operators-only").await;
    assert!(said.contains("for operators and admins"), "{said}");
    let refused = browser.text_of("p[role=alert]").await;
    assert!(refused.contains("only operators and admins"), "{refused}");
    assert!(!browser.exists("#chart-host-cpu").await);
    assert!(!browser.exists("#threshold-form").await);
    browser.assert_usable().await;
    browser.screenshot(TEST, "user").await;
    // Nor can a user resolve through the dashboard.
    let (_, active) = m.get("/api/v1/alerts?status=active").await;
    if let Some(open) = active["alerts"].as_array().and_then(|a| a.first()) {
        let id = open["id"].as_str().unwrap();
        browser
            .client()
            .execute(
                "var f = document.createElement('form'); f.method = 'post'; \
                 f.action = '/ui/resources/alerts/' + arguments[0] + '/resolve'; \
                 document.body.appendChild(f); f.submit();",
                vec![json!(id)],
            )
            .await
            .unwrap();
        let said = browser.text_of("#operators-only").await;
        assert!(said.contains("for operators and admins"), "{said}");
        let (_, still) = m.get("/api/v1/alerts?status=active").await;
        assert!(
            still["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == id),
            "{still}"
        );
    }

    // The admin deletes the threshold with its button: its active alert is resolved with it, and no
    // new one fires.
    browser.goto(&m.url("/ui")).await;
    sign_out(&browser).await;
    sign_in(&browser, &m, "ada").await;
    browser.goto(&m.url("/ui/resources")).await;
    browser
        .click("#thresholds-table button[aria-label^='Delete threshold']")
        .await;
    wait_url(&browser, "deleted=").await;
    let notice = browser.text_of("#notice").await;
    assert!(notice.contains("deleted"), "{notice}");
    browser.wait_for("#thresholds-none", WAIT).await;
    let (_, thresholds) = m.get("/api/v1/alerts/thresholds").await;
    assert_eq!(thresholds["count"], 0, "{thresholds}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, active) = m.get("/api/v1/alerts?status=active").await;
    assert_eq!(active["count"], 0, "{active}");
    browser.assert_usable().await;
    browser.screenshot(TEST, "threshold-deleted").await;
    browser.close().await;
}
