//! A real headless Chromium driven over WebDriver, for page tests.
//!
//! `Browser::start()` launches `chromedriver` on a free port with a fresh
//! profile and connects to it; dropping the `Browser` stops the driver and
//! Chromium. A missing chromedriver or Chromium fails the test: install them
//! with `scripts/test-deps`. `CHROMEDRIVER` and `CHROMIUM` override the paths.
//!
//! ```ignore
//! let browser = Browser::start().await;
//! browser.login(&app.address, "operator1", PASSWORD).await;
//! browser.click(&format!("#decide-link-{id}")).await;
//! ```

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::free_port;

pub struct Browser {
    pub client: Client,
    driver: Driver,
    _profile: tempfile::TempDir,
}

/// The chromedriver process; stopped when dropped, so a test that fails
/// anywhere (even while starting the browser) leaves no driver behind.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // The driver takes its Chromium with it.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(var: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    assert!(
        path.is_file(),
        "{} not found ({var}); install it with scripts/test-deps",
        path.display()
    );
    path
}

/// How long page waits may take before the test fails; generous, since the
/// machine may be busy. Nothing is asserted about durations.
const PATIENCE: Duration = Duration::from_secs(30);

impl Browser {
    pub async fn start() -> Browser {
        let driver_path = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let port = free_port();
        let mut driver = Driver(
            Command::new(&driver_path)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display())),
        );
        // Wait for the driver to listen; fail if it died instead.
        let mut ready = false;
        for _ in 0..600 {
            if let Some(status) = driver.0.try_wait().unwrap() {
                panic!("chromedriver exited: {status}");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "chromedriver did not start listening on port {port}");
        // fantoccini's HTTP client asks rustls for the process-wide provider,
        // which cannot be guessed when several are compiled in.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}"));
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The element, once it is on the page.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// Clicks `css`; found again if the page replaced it between the
    /// finding and the click (a reload or a script re-rendering it).
    pub async fn click(&self, css: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            match self.wait_for(css).await.click().await {
                Ok(()) => return,
                Err(e)
                    if e.is_stale_element_reference() && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot click {css}: {e}"),
            }
        }
    }

    /// Types `text` into `css` instead of what it holds; found again if
    /// the page replaced it meanwhile.
    pub async fn fill(&self, css: &str, text: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let field = self.wait_for(css).await;
            let typed = match field.clear().await {
                Ok(()) => field.send_keys(text).await,
                Err(e) => Err(e),
            };
            match typed {
                Ok(()) => return,
                Err(e)
                    if e.is_stale_element_reference() && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot fill {css}: {e}"),
            }
        }
    }

    /// Presses one key on the page, as a person at the keyboard would.
    pub async fn press(&self, key: char) {
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client.perform_actions(keys).await.unwrap();
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Logs in through the login form at `base` (the app's `http://host:port`).
    pub async fn login(&self, base: &str, login: &str, password: &str) {
        self.goto(&format!("{base}/ui/login")).await;
        self.fill("#login", login).await;
        self.fill("#password", password).await;
        self.click("form.login button[type=submit]").await;
        self.wait_for("header .who").await;
    }

    /// Saves the whole page as a PNG: the window grows to the page's height
    /// first, so the picture is not cut at the fold.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .clamp(600, 6000) as u32;
        self.client
            .set_window_size(1280, height + 120)
            .await
            .unwrap();
        let png = self.client.screenshot().await.unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
        self.client.set_window_size(1280, 900).await.unwrap();
    }

    /// Ends the browser session politely; dropping also stops the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        drop(self.driver);
    }
}
