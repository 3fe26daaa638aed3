//! A real, headless Chromium for browser tests, driven through WebDriver (fantoccini → chromedriver).
//!
//! `Browser::start()` runs Debian's `chromedriver` on a free port of 127.0.0.1 (its own process group,
//! killed with everything it started when the `Browser` is dropped) and opens a session in headless
//! Chromium with its own `--user-data-dir`, so tests in parallel processes (nextest) never share a
//! driver or a profile. Both programs come from `scripts/install-browser`; when they are missing a test
//! fails (never skips) and says so.
//!
//! The helpers panic with the page's URL on failure, as the rest of the harness does. Screenshots go to
//! `target/screenshots/<test>/<page>.png`.

use std::{
    fs,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// The desktop window: what a session starts with and `set_desktop_width` returns to.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone's viewport (iPhone 12–15 in CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);
/// How long `fill`, `click` and `text_of` wait for their element to appear.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// How long chromedriver may take to answer `/status` after it was started.
const DRIVER_START: Duration = Duration::from_secs(20);

/// A headless Chromium session and the chromedriver serving it.
pub struct Browser {
    client: Client,
    driver: Child,
    /// Chromium's profile, chromedriver's log; removed on drop.
    dir: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1280×900). Panics, naming
    /// `scripts/install-browser`, when chromium or chromedriver is not installed.
    pub async fn start() -> Self {
        let chromium = find_program("chromium");
        let chromedriver = find_program("chromedriver");
        let dir = std::env::temp_dir().join(format!(
            "botfleet-browser-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let profile = dir.join("profile");
        fs::create_dir_all(&profile).expect("create the browser's temporary directory");
        let log = dir.join("chromedriver.log");

        // A free port can be taken between our probe and chromedriver's bind (another test process):
        // chromedriver then exits, and we try another.
        let mut attempt = 0;
        let (driver, url) = loop {
            attempt += 1;
            let port = free_port();
            let mut driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group: dropping the Browser kills chromedriver and every Chromium
                // process it started, even when the test panicked before `close`.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromedriver.display()));
            let url = format!("http://127.0.0.1:{port}");
            match wait_until_ready(&url, &mut driver).await {
                Ok(()) => break (driver, url),
                Err(why) => {
                    kill_group(&mut driver);
                    assert!(
                        attempt < 5,
                        "chromedriver did not start ({why}); its log:\n{}",
                        read_log(&log)
                    );
                }
            }
        };

        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Containers (CI, root) have no user namespaces for Chromium's sandbox.
                    "--no-sandbox",
                    // A container's /dev/shm is often 64 MB: shared memory goes to /tmp instead.
                    "--disable-dev-shm-usage",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                    format!("--user-data-dir={}", profile.display()),
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--hide-scrollbars",
                ],
            }),
        );
        let connected = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await;
        let browser = Browser {
            client: match connected {
                Ok(client) => client,
                Err(e) => {
                    let mut driver = driver;
                    kill_group(&mut driver);
                    let log = read_log(&log);
                    let _ = fs::remove_dir_all(&dir);
                    panic!(
                        "chromedriver could not start {}: {e}; chromedriver's log:\n{log}",
                        chromium.display()
                    );
                }
            },
            driver,
            dir,
        };
        browser.set_desktop_width().await;
        browser
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for the page to load (the document's `load` event).
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The page's URL now.
    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("<unknown URL: {e}>"))
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.client.title().await.expect("the page's title")
    }

    /// Saves a PNG of the viewport to `target/screenshots/<test_name>/<page_name>.png` and returns the
    /// path.
    pub async fn screenshot(&self, test_name: &str, page_name: &str) -> PathBuf {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => panic!("screenshot of {}: {e}", self.current_url().await),
        };
        let dir = screenshots_dir().join(test_name);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let path = dir.join(format!("{page_name}.png"));
        fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Resizes the viewport to a phone's, 390×844 CSS pixels.
    pub async fn set_phone_width(&self) {
        self.set_viewport(PHONE).await;
    }

    /// Resizes the viewport back to the desktop's, 1280×900.
    pub async fn set_desktop_width(&self) {
        self.set_viewport(DESKTOP).await;
    }

    /// Resizes the window so that the viewport (`innerWidth`×`innerHeight`) is `width`×`height`.
    pub async fn set_viewport(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resize the window to {width}x{height}: {e}"));
        // The window's size includes whatever the browser draws around the page: correct once by the
        // difference measured.
        let inner = self.inner_size().await;
        if inner != (width, height) {
            let (w, h) = (
                (2 * width).saturating_sub(inner.0),
                (2 * height).saturating_sub(inner.1),
            );
            self.client
                .set_window_size(w, h)
                .await
                .unwrap_or_else(|e| panic!("resize the window to {w}x{h}: {e}"));
        }
    }

    /// The viewport's size in CSS pixels.
    pub async fn inner_size(&self) -> (u32, u32) {
        let v = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("read the viewport's size");
        let dim = |i: usize| v[i].as_u64().unwrap_or(0) as u32;
        (dim(0), dim(1))
    }

    /// Waits up to `timeout` for an element matching the CSS selector `css`, and returns it.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        match self
            .client
            .wait()
            .at_most(timeout)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element matches `{css}` after {timeout:?} on {}: {e}",
                self.current_url().await
            ),
        }
    }

    /// Replaces the value of the input matching `css` with `text` (typed as keystrokes).
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.wait_for(css, DEFAULT_WAIT).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear `{css}`: {e}"));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css, DEFAULT_WAIT)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// The rendered text of the element matching `css` (as a user sees it: hidden text is left out).
    pub async fn text_of(&self, css: &str) -> String {
        self.wait_for(css, DEFAULT_WAIT)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of `{css}`: {e}"))
    }

    /// Waits up to `timeout` until the element matching `css` shows `text` (read again as the page
    /// changes: an element replaced meanwhile is looked up anew), and returns what it shows.
    pub async fn wait_text(&self, css: &str, text: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        let mut shown = String::new();
        while std::time::Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(now) = element.text().await
            {
                if now.contains(text) {
                    return now;
                }
                shown = now;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        panic!(
            "`{css}` never showed {text:?} on {}: {shown:?}",
            self.current_url().await
        )
    }

    /// Chooses the option `value` of the `select` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value='{value}']")).await;
    }

    /// Asserts what makes the page usable with a keyboard and a screen reader: every control has a
    /// label (a `<label>`, `aria-label` or `aria-labelledby`; a button its text), no `tabindex` above 0
    /// reorders the keyboard's path, the page has a language and one `h1`, and the first focusable
    /// element is the link that skips to the content.
    pub async fn assert_usable(&self) {
        let problems = self
            .client
            .execute(
                r#"
var problems = [];
document.querySelectorAll('input:not([type=hidden]), select, textarea, button').forEach(function (e) {
  var named = e.tagName === 'BUTTON'
    ? (e.textContent.trim() || e.getAttribute('aria-label'))
    : ((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby'));
  if (!named) problems.push('no label: ' + e.outerHTML.slice(0, 160));
});
document.querySelectorAll('[tabindex]').forEach(function (e) {
  if (parseInt(e.getAttribute('tabindex'), 10) > 0) problems.push('tabindex > 0: ' + e.outerHTML.slice(0, 160));
});
if (!document.documentElement.lang) problems.push('no lang on <html>');
if (document.querySelectorAll('h1').length !== 1) problems.push(document.querySelectorAll('h1').length + ' h1 elements');
var first = document.querySelector('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]');
if (!first || first.getAttribute('href') !== '#main') problems.push('the first focusable element does not skip to #main');
return problems;"#,
                vec![],
            )
            .await
            .expect("run the usability check");
        let problems: Vec<String> = serde_json::from_value(problems).unwrap_or_default();
        assert!(
            problems.is_empty(),
            "{} is hard to use with a keyboard or a screen reader:\n{}",
            self.current_url().await,
            problems.join("\n")
        );
    }

    /// Asserts that the page does not scroll sideways at the window's width (tables scroll inside their
    /// frame); names the elements that stick out when it does.
    pub async fn assert_fits_width(&self) {
        let found = self
            .client
            .execute(
                r#"
var root = document.documentElement, w = root.clientWidth;
var wide = Array.from(document.querySelectorAll('body *')).filter(function (e) {
  return e.getBoundingClientRect().right > w + 1 && !(e.parentElement && e.parentElement.closest('.table-wrap'));
}).map(function (e) { return e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' + e.className; });
return [root.scrollWidth - w, wide.slice(0, 12).join(', ')];"#,
                vec![],
            )
            .await
            .expect("measure the page's width");
        let overflow = found[0].as_i64().unwrap_or_default();
        assert!(
            overflow <= 0,
            "{} scrolls sideways by {overflow} px: {}",
            self.current_url().await,
            found[1]
        );
    }

    /// Types `keys` into whatever has the keyboard's focus (`\t` moves it on, `\n` is Enter), as a
    /// keyboard-only user would; returns the id of the element focused after.
    pub async fn press(&self, keys: &str) -> String {
        let keys = keys.replace('\t', "\u{e004}").replace('\n', "\u{e007}");
        let focused = self
            .client
            .active_element()
            .await
            .expect("the focused element");
        focused
            .send_keys(&keys)
            .await
            .unwrap_or_else(|e| panic!("type {keys:?}: {e}"));
        match self.client.active_element().await {
            Ok(now) => now.attr("id").await.ok().flatten().unwrap_or_default(),
            // The page changed under the keys (a form sent with Enter).
            Err(_) => String::new(),
        }
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The page's HTML as it is now.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("read the page's source")
    }

    /// Ends the session (Chromium quits), then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop stops chromedriver and removes the profile.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Where screenshots go: `target/screenshots` of the workspace.
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

/// `name` on the PATH (as `which` finds it), else in /usr/bin; panics naming the install script.
fn find_program(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    let path = on_path.unwrap_or_else(|| Path::new("/usr/bin").join(name));
    assert!(
        path.is_file(),
        "{name} is not installed (not on PATH, not in /usr/bin): run scripts/install-browser \
         (as root; it installs Debian's chromium and chromium-driver)"
    );
    path
}

/// A port of 127.0.0.1 free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("probe a free port")
        .port()
}

/// Polls chromedriver's `/status` until it says ready; fails when the process exits or time runs out.
async fn wait_until_ready(url: &str, driver: &mut Child) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("HTTP client");
    let deadline = tokio::time::Instant::now() + DRIVER_START;
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        if let Ok(response) = http.get(format!("{url}/status")).send().await
            && let Ok(body) = response.json::<Value>().await
            && body["value"]["ready"] == true
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("{url}/status not ready after {DRIVER_START:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills chromedriver's process group (chromedriver and the Chromium it started), and reaps it.
fn kill_group(driver: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", driver.id())])
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

fn read_log(path: &Path) -> String {
    let log = fs::read_to_string(path).unwrap_or_default();
    // The end says why; the whole log of a session can be long.
    let start = log.len().saturating_sub(4000);
    let start = (start..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(0);
    log[start..].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "run scripts/install-browser")]
    fn a_missing_browser_fails_the_test_and_names_the_install_script() {
        super::find_program("no-such-browser-botfleet");
    }
}
