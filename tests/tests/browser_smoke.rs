//! The browser-test infrastructure works end to end: the real manager serves its Swagger UI, a real
//! headless Chromium (Debian's, through chromedriver) renders it at desktop and phone widths, and the
//! screenshots land in `target/screenshots/browser_smoke/`.

use std::time::{Duration, Instant};

use botfleet_tests::{
    browser::{Browser, DESKTOP, PHONE},
    harness::{self, Manager, ManagerOptions},
};

const TEST: &str = "browser_smoke";

#[tokio::test(flavor = "multi_thread")]
async fn the_swagger_ui_renders_in_chromium_at_desktop_and_phone_widths() {
    let (_tg, tg_url) = harness::start_fake_telegram().await;
    let m = Manager::spawn(ManagerOptions::new(&tg_url).await);

    let started = Instant::now();
    let browser = Browser::start().await;
    eprintln!(
        "chromedriver + Chromium session ready in {:?}",
        started.elapsed()
    );

    browser.goto(&m.url("/docs/")).await;
    // Swagger UI builds the page in JavaScript from /openapi.json: the title exists once it has.
    browser
        .wait_for(".swagger-ui .info .title", Duration::from_secs(30))
        .await;
    let title = browser.text_of(".swagger-ui .info .title").await;
    assert!(
        title.contains("botfleet manager"),
        "the Swagger UI shows the manager's API title; it shows {title:?}"
    );
    // An operation of the API is listed too (the document was loaded and rendered, not only its frame).
    browser
        .wait_for(".swagger-ui .opblock", Duration::from_secs(10))
        .await;

    assert_eq!(browser.inner_size().await, DESKTOP, "desktop viewport");
    let desktop = browser.screenshot(TEST, "docs-desktop").await;

    browser.set_phone_width().await;
    assert_eq!(browser.inner_size().await, PHONE, "phone viewport");
    let title = browser.text_of(".swagger-ui .info .title").await;
    assert!(title.contains("botfleet manager"), "phone width: {title:?}");
    let phone = browser.screenshot(TEST, "docs-phone").await;

    for path in [&desktop, &phone] {
        let png = std::fs::read(path).expect("the screenshot was written");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{} is a PNG of a rendered page ({} bytes)",
            path.display(),
            png.len()
        );
    }
    browser.close().await;
}
