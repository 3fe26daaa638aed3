//! What the dashboard's browser tests share: users made through the API, and signing in through the
//! dashboard's own form.

use std::time::Duration;

use serde_json::json;

use crate::{browser::Browser, harness::Manager};

const WAIT: Duration = Duration::from_secs(15);

/// The password [`add_user`] gives `username`.
pub fn password(username: &str) -> String {
    format!("{username}-password-1")
}

/// Adds user `username` with `role` (`user`, `operator`, `admin`) through the API.
pub async fn add_user(m: &Manager, username: &str, role: &str) {
    let body = json!({"username": username, "password": password(username), "role": role});
    let (status, user) = m.post("/api/v1/users", &body).await;
    assert_eq!(status, 201, "{user}");
}

/// Signs `username` in with their password; the overview is shown after.
pub async fn sign_in(browser: &Browser, m: &Manager, username: &str) {
    browser.goto(&m.url("/ui")).await;
    // Without a session every page sends the browser to the sign-in form.
    browser.wait_for("form[action='/ui/login']", WAIT).await;
    browser.fill("#username", username).await;
    browser.fill("#password", &password(username)).await;
    browser
        .click("form[action='/ui/login'] button[type=submit]")
        .await;
    browser.wait_for("#card-active-bots", WAIT).await;
}

/// Signs in with an API key (under "Sign in with an API key instead"); the overview is shown after.
pub async fn sign_in_with_key(browser: &Browser, m: &Manager, key: &str) {
    browser.goto(&m.url("/ui")).await;
    browser.click("details summary").await;
    browser.fill("#api_key", key).await;
    browser
        .click("form[action='/ui/login'] button[type=submit]")
        .await;
    browser.wait_for("#card-active-bots", WAIT).await;
}

/// Signs out from any page with the navigation; the sign-in form is shown after.
pub async fn sign_out(browser: &Browser) {
    browser.click("form.signout button").await;
    browser.wait_for("form[action='/ui/login']", WAIT).await;
}
